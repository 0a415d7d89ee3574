import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { EntityManager } from '@mikro-orm/core';
import { loadConfig } from '../../src/config/load.js';
import { createServices, type Services } from '../../src/services.js';
import type { User } from '../../src/db/entities.js';
import { FakeClock } from './clock.js';
import { resetPostgres } from './postgres.js';
import { createUser } from '../../src/domain/users/new-user.js';

/**
 * The domain services without HTTP, for unit tests of domain rules: a fresh database (a temporary SQLite file, or
 * TEST_DATABASE_URL emptied first, as for the API tests), a fake clock, no mail server (mail stays in the outbox).
 */
export class TestDomain {
  readonly clock = new FakeClock();
  services!: Services;

  static async start(env: Record<string, string> = {}): Promise<TestDomain> {
    const domain = new TestDomain();
    const databaseUrl = process.env.TEST_DATABASE_URL ?? `file:${join(mkdtempSync(join(tmpdir(), 'pulse-auth-unit-')), 'unit.sqlite')}`;
    if (process.env.TEST_DATABASE_URL) await resetPostgres(databaseUrl);
    const config = loadConfig({
      NODE_ENV: 'test',
      PUBLIC_URL: 'http://pulse-auth.test',
      APP_URL: 'http://app.test',
      DATABASE_URL: databaseUrl,
      // Nothing listens there: nothing in these tests sends what the outbox holds.
      SMTP_URL: 'smtp://127.0.0.1:9',
      BCRYPT_COST: '4',
      PASSWORD_HASH_THREADS: '1',
      LOG_LEVEL: 'silent',
      ...env,
    });
    domain.services = await createServices(config, { logger: pino({ level: 'silent' }), clock: domain.clock });
    return domain;
  }

  /** A new unit of work, as one request has. */
  em(): EntityManager {
    return this.services.orm.em.fork();
  }

  /** A verified account with no password and no second factor (the row only: no sign-up, no mail). */
  async user(email: string, fields: Partial<User> = {}): Promise<User> {
    const em = this.em();
    const now = this.clock.now();
    const user = Object.assign(createUser(em, { email, name: null, passwordHash: null, role: 'user', now }), fields);
    await em.flush();
    return user;
  }

  close(): Promise<void> {
    return this.services.close();
  }
}
