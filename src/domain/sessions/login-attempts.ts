import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import { LoginAttemptSchema, type LoginAttempt, type LoginMethod, type LoginOutcome, type User } from '../../db/entities.js';
import type { Clock } from '../kernel/clock.js';
import type { ClientInfo } from '../kernel/actor.js';
import { describeUserAgent } from './user-agent.js';
import type { Mailbox } from '../kernel/notifications.js';
import { findPage } from '../pagination.js';
import type { components } from '../../../generated/openapi.js';

export interface AttemptInput {
  email: string;
  user: Pick<User, 'id'> | null;
  client: ClientInfo;
  outcome: LoginOutcome;
  reason?: string;
  method?: LoginMethod;
}

type LoginRecord = components['schemas']['LoginRecord'];

/** Every sign-in attempt, and what follows from the successful ones: login history and new-device mail. */
export class LoginAttempts {
  constructor(
    private readonly clock: Clock,
    private readonly mailbox: Mailbox,
    private readonly options: { appUrl: string },
  ) {}

  /** Writes the attempt at once, so that it stays recorded when the request then fails. */
  async record(em: EntityManager, input: AttemptInput): Promise<LoginAttempt> {
    const { deviceType, browser, os, deviceKey } = describeUserAgent(input.client.userAgent);
    const attempt = em.create(LoginAttemptSchema, {
      id: randomUUID(),
      createdAt: this.clock.now(),
      email: input.email,
      userId: input.user?.id ?? null,
      ip: input.client.ip,
      userAgent: input.client.userAgent,
      deviceType,
      browser,
      os,
      deviceKey,
      outcome: input.outcome,
      reason: input.reason ?? null,
      method: input.method ?? null,
    });
    await em.flush();
    return attempt;
  }

  /**
   * Records a successful sign-in and, when the account has signed in before but never from this kind of device
   * (device type, browser and OS names), queues a mail to the owner. The very first sign-in mails nothing: every
   * device is new then.
   */
  async recordSuccess(em: EntityManager, user: User, client: ClientInfo, method: LoginMethod): Promise<void> {
    const { deviceKey } = describeUserAgent(client.userAgent);
    // Whether one such row exists (`select … limit 1` on an index), not how many: counting an account's whole history
    // cost a user with 85k sign-ins two scans per sign-in.
    const exists = async (where: Record<string, unknown>) =>
      (await em.find(LoginAttemptSchema, { userId: user.id, outcome: 'success', ...where }, { fields: ['id'], limit: 1 })).length > 0;
    const [seenBefore, signedInBefore] = await Promise.all([exists({ deviceKey }), exists({})]);
    const attempt = await this.record(em, { email: user.email, user, client, outcome: 'success', method });
    if (signedInBefore && !seenBefore) {
      const device = [attempt.browser, attempt.os && `on ${attempt.os}`].filter(Boolean).join(' ') || 'an unrecognised device';
      this.mailbox.queue(em, attempt.createdAt, user.email, { kind: 'new-device', device, ip: client.ip, at: attempt.createdAt, appUrl: this.options.appUrl });
      await em.flush();
    }
  }

  /** The user's successful sign-ins, newest first, one page at a time. */
  async history(em: EntityManager, userId: string, request: { limit: number; cursor?: string }): Promise<{ items: LoginRecord[]; nextCursor: string | null }> {
    return findPage(em, LoginAttemptSchema, { userId, outcome: 'success' }, request, (row) => ({
      id: row.id,
      createdAt: row.createdAt.toISOString(),
      method: row.method ?? 'password',
      ip: row.ip,
      deviceType: row.deviceType,
      browser: row.browser,
      os: row.os,
    }));
  }
}
