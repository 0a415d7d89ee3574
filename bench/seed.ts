/**
 * Rows for the benchmark, written straight into the database through the app's own entity definitions (the API
 * would spend a bcrypt hash per account: 100,000 accounts would take an hour). Every account gets the same
 * precomputed hash of BENCH_PASSWORD, made at the cost the server runs with.
 */
import { randomUUID } from 'node:crypto';
import type { EntitySchema } from '@mikro-orm/core';
import { openDatabase, type Orm } from '../src/db/orm.js';
import { LoginAttemptSchema, MembershipSchema, OrganizationSchema, PendingRegistrationSchema, UserSchema, type LoginAttempt, type OrganizationRole, type UserRole } from '../src/db/entities.js';
import { hashPasswordSync } from '../src/domain/passwords/hasher.js';
import { WebhookEndpoints } from '../src/domain/webhooks/endpoints.js';
import { SecretSealer } from '../src/domain/webhooks/secrets.js';
import { systemClock } from '../src/domain/kernel/clock.js';

/** The server's WEBHOOK_SECRET_KEY in the benchmark (production requires one). */
export const BENCH_WEBHOOK_KEY = 'bench-webhook-secret-key-0123456789abcdef';

export const BENCH_PASSWORD = 'benchmark passphrase that is long enough';
const CHUNK = 500;
const DAY_MS = 86_400_000;

export const benchEmail = (index: number) => `user-${index}@bench.test`;
export const ADMIN_EMAIL = 'admin@bench.test';

/** Inserts `count` rows made by `row(i)`, CHUNK per statement, in transactions of 20 statements. */
async function insertInChunks<T extends object>(orm: Orm, schema: EntitySchema<T>, count: number, row: (index: number) => T) {
  for (let start = 0; start < count; start += CHUNK * 20) {
    await orm.em.fork().transactional(async (em) => {
      for (let chunk = start; chunk < Math.min(count, start + CHUNK * 20); chunk += CHUNK) {
        const rows = Array.from({ length: Math.min(CHUNK, count - chunk) }, (_, offset) => row(chunk + offset));
        await em.insertMany(schema, rows);
      }
    });
  }
}

export class BenchDatabase {
  private constructor(
    readonly orm: Orm,
    private readonly passwordHash: string,
  ) {}

  static async open(databaseUrl: string, bcryptCost: number): Promise<BenchDatabase> {
    const orm = await openDatabase(databaseUrl);
    return new BenchDatabase(orm, hashPasswordSync(BENCH_PASSWORD, bcryptCost));
  }

  /**
   * Webhook endpoints subscribed to every event, saved through the domain (production's https-only rule would refuse
   * the benchmark's local http receiver through the API; the server checks the address again at each send).
   */
  async webhooks(urls: string[]): Promise<void> {
    const endpoints = new WebhookEndpoints(systemClock, new SecretSealer(BENCH_WEBHOOK_KEY), { allowPrivateNetworks: true, httpsOnly: false });
    for (const url of urls) await endpoints.create(this.orm.em.fork(), { url, events: ['*'] });
  }

  /** Verified accounts user-<from>…user-<to-1>@bench.test, all with BENCH_PASSWORD. */
  async users(from: number, to: number, role: UserRole = 'user', email = benchEmail): Promise<void> {
    const now = new Date();
    await insertInChunks(this.orm, UserSchema, to - from, (offset) => ({
      id: randomUUID(),
      email: email(from + offset),
      name: `Bench user ${from + offset}`,
      passwordHash: this.passwordHash,
      role,
      emailVerified: true,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
      lockedAt: null,
      totpSecret: null,
      totpEnabledAt: null,
      totpLastStep: null,
      emailOtpEnabledAt: null,
    }));
  }

  async admin(): Promise<void> {
    await this.users(0, 1, 'admin', () => ADMIN_EMAIL);
  }

  /** Sign-in history spread over the last 30 days and over `userCount` accounts: mostly successes, some failures. */
  async loginAttempts(count: number, userCount: number): Promise<void> {
    const users = await this.orm.em.fork().find(UserSchema, {}, { fields: ['id', 'email'], limit: userCount });
    const now = Date.now();
    await insertInChunks(this.orm, LoginAttemptSchema, count, (index): LoginAttempt => {
      const user = users[index % users.length];
      const failed = index % 7 === 0;
      return {
        id: randomUUID(),
        createdAt: new Date(now - ((index * 2_591) % (30 * DAY_MS))),
        email: user.email,
        userId: user.id,
        ip: `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`,
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36',
        deviceType: 'desktop',
        browser: 'Chrome',
        os: 'Linux',
        deviceKey: 'desktop|Chrome|Linux',
        outcome: failed ? 'failure' : 'success',
        reason: failed ? 'invalid-credentials' : null,
        method: 'password',
      };
    });
  }

  /** Sign-ups whose verification window ended yesterday: what the registration cleanup deletes. */
  async expiredRegistrations(count: number): Promise<void> {
    const yesterday = new Date(Date.now() - DAY_MS);
    await insertInChunks(this.orm, PendingRegistrationSchema, count, (index) => ({
      id: randomUUID(),
      email: `pending-${index}@bench.test`,
      name: null,
      passwordHash: this.passwordHash,
      tokenHash: randomUUID().replaceAll('-', '') + randomUUID().replaceAll('-', ''),
      createdAt: new Date(yesterday.getTime() - 1_800_000),
      expiresAt: yesterday,
    }));
  }

  /**
   * Organizations org-<from>…org-<to-1>, each with `membersEach` of the bench accounts as members: organization k holds
   * user-<k·membersEach>… (the first an owner, the next an admin, the rest members). The accounts must exist.
   */
  async organizations(from: number, to: number, membersEach: number): Promise<void> {
    const ids = new Map<number, string>();
    const users = await this.orm.em.fork().find(UserSchema, { email: { $like: 'user-%@bench.test' } }, { fields: ['id', 'email'] });
    for (const user of users) ids.set(Number(/^user-(\d+)@/.exec(user.email)![1]), user.id);
    const now = Date.now();
    const orgIds = Array.from({ length: to - from }, () => randomUUID());
    await insertInChunks(this.orm, OrganizationSchema, to - from, (offset) => ({
      id: orgIds[offset],
      name: `Bench org ${from + offset}`,
      nameKey: `bench org ${from + offset}`,
      slug: `bench-org-${from + offset}`,
      createdAt: new Date(now - (to - from - offset) * 1000),
      updatedAt: new Date(now),
    }));
    await insertInChunks(this.orm, MembershipSchema, (to - from) * membersEach, (index) => {
      const org = Math.floor(index / membersEach);
      const position = index % membersEach;
      const userId = ids.get((from + org) * membersEach + position);
      if (!userId) throw new Error(`bench: no account user-${(from + org) * membersEach + position}`);
      const role: OrganizationRole = position === 0 ? 'owner' : position === 1 ? 'admin' : 'member';
      return { id: randomUUID(), organizationId: orgIds[org], userId, role, createdAt: new Date(now - index) };
    });
  }

  async expiredRegistrationsLeft(): Promise<number> {
    return this.orm.em.fork().count(PendingRegistrationSchema, { expiresAt: { $lte: new Date() } });
  }

  close(): Promise<void> {
    return this.orm.close(true);
  }
}
