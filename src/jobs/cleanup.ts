import { setImmediate as nextTurn } from 'node:timers/promises';
import type { EntityManager, EntitySchema, FilterQuery } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import {
  AuditEventSchema,
  BlockedIpSchema,
  EmailSignInRequestSchema,
  IdentityLinkTicketSchema,
  LoginAttemptSchema,
  MfaChallengeSchema,
  OAuthStateSchema,
  OutboxMailSchema,
  PasswordResetTokenSchema,
  PendingRegistrationSchema,
  RefreshTokenSchema,
  SessionSchema,
  UserSchema,
  WebauthnChallengeSchema,
  InvitationSchema,
  WebhookAttemptSchema,
  WebhookDeliverySchema,
  WebhookEventSchema,
} from '../db/entities.js';
import { addSeconds } from '../domain/kernel/clock.js';
import { purgeUsers } from '../domain/users/deletion.js';

const DAY = 86_400;
/** Rotated refresh tokens are kept this long for reuse detection; a replay of an older one is simply unknown. */
const ROTATED_TOKEN_RETENTION_DAYS = 14;
// Small enough that one batch holds SQLite (whose statements run on the event loop) for a few milliseconds only.
const BATCH = 100;

export type JobCounts = Record<string, number>;

/**
 * Deletes the rows that match, BATCH at a time, and lets waiting requests in between: a single DELETE of a
 * hundred thousand rows would hold SQLite's only connection (and, with the libsql binding, the event loop) for
 * seconds. Returns how many went.
 */
async function deleteInBatches<T extends { id: string }>(em: EntityManager, schema: EntitySchema<T>, where: FilterQuery<T>): Promise<number> {
  let deleted = 0;
  for (;;) {
    const batch = await em.find(schema, where, { fields: ['id'] as never, limit: BATCH });
    if (batch.length === 0) return deleted;
    deleted += await em.nativeDelete(schema, { id: { $in: batch.map((row) => row.id) } } as unknown as FilterQuery<T>);
    em.clear();
    await nextTurn();
  }
}

/** Pending registrations whose verification window has passed. */
export async function deleteExpiredRegistrations(em: EntityManager, now: Date): Promise<JobCounts> {
  return { registrations: await deleteInBatches(em, PendingRegistrationSchema, { expiresAt: { $lte: now } }) };
}

/**
 * Spent credentials: used or expired reset links, email sign-in requests, organization invitations, MFA challenges, passkey challenges, social
 * sign-in states and identity-link tickets,
 * refresh tokens rotated long ago, and sessions
 * that ended (signed out, revoked or expired) more than SESSION_RETENTION_DAYS ago, with their refresh tokens.
 */
export async function deleteSpentTokens(em: EntityManager, now: Date, sessionRetentionDays: number): Promise<JobCounts> {
  const mfaChallenges = await deleteInBatches(em, MfaChallengeSchema, { expiresAt: { $lte: addSeconds(now, -DAY) } });
  const oauthStates = await deleteInBatches(em, OAuthStateSchema, { expiresAt: { $lte: now } });
  // A passkey challenge that was finished is gone already (single use): what is left here was never finished.
  const passkeyChallenges = await deleteInBatches(em, WebauthnChallengeSchema, { expiresAt: { $lte: now } });
  const linkTickets = await deleteInBatches(em, IdentityLinkTicketSchema, { $or: [{ usedAt: { $ne: null } }, { expiresAt: { $lte: now } }] });
  const resetTokens = await deleteInBatches(em, PasswordResetTokenSchema, { $or: [{ usedAt: { $ne: null } }, { expiresAt: { $lte: now } }] });
  const emailSignIns = await deleteInBatches(em, EmailSignInRequestSchema, { $or: [{ consumedAt: { $ne: null } }, { expiresAt: { $lte: now } }] });
  // Organization invitations that can no longer be accepted: accepted, revoked or replaced, or expired.
  const invitations = await deleteInBatches(em, InvitationSchema, { $or: [{ acceptedAt: { $ne: null } }, { revokedAt: { $ne: null } }, { expiresAt: { $lte: now } }] });
  const rotatedBefore = addSeconds(now, -ROTATED_TOKEN_RETENTION_DAYS * DAY);
  let refreshTokens = await deleteInBatches(em, RefreshTokenSchema, { rotatedAt: { $lte: rotatedBefore } });
  const endedBefore = addSeconds(now, -sessionRetentionDays * DAY);
  let sessions = 0;
  for (;;) {
    const ended = await em.find(
      SessionSchema,
      { $or: [{ revokedAt: { $lte: endedBefore } }, { expiresAt: { $lte: endedBefore } }] },
      { fields: ['id'], limit: BATCH },
    );
    if (ended.length === 0) break;
    const ids = ended.map((session) => session.id);
    refreshTokens += await em.nativeDelete(RefreshTokenSchema, { sessionId: { $in: ids } });
    sessions += await em.nativeDelete(SessionSchema, { id: { $in: ids } });
    em.clear();
    await nextTurn();
  }
  return { resetTokens, emailSignIns, invitations, mfaChallenges, passkeyChallenges, oauthStates, linkTickets, refreshTokens, sessions };
}

/** Sign-in attempts older than LOGIN_HISTORY_DAYS, and IP blocks that ended as long ago. */
export async function deleteOldLoginAttempts(em: EntityManager, now: Date, historyDays: number): Promise<JobCounts> {
  const before = addSeconds(now, -historyDays * DAY);
  return {
    loginAttempts: await deleteInBatches(em, LoginAttemptSchema, { createdAt: { $lt: before } }),
    blockedIps: await deleteInBatches(em, BlockedIpSchema, { expiresAt: { $lt: before } }),
  };
}

/**
 * Mail delivered or given up more than MAIL_OUTBOX_RETENTION_DAYS ago. (A delivered mail has lost its bodies already;
 * what stays until then is the recipient, the subject and the delivery record.) Mail still waiting is never touched.
 */
export async function deleteOldMail(em: EntityManager, now: Date, retentionDays: number): Promise<JobCounts> {
  const before = addSeconds(now, -retentionDays * DAY);
  const delivered = await deleteInBatches(em, OutboxMailSchema, { sentAt: { $lt: before } });
  const givenUp = await deleteInBatches(em, OutboxMailSchema, { sentAt: null, failedAt: { $lt: before } });
  return { mails: delivered + givenUp };
}

/**
 * Webhook deliveries delivered or failed more than WEBHOOK_RETENTION_DAYS ago, with their attempts, and the events no
 * delivery points at any more. Deliveries still waiting are never removed.
 */
export async function deleteOldWebhookDeliveries(em: EntityManager, now: Date, retentionDays: number): Promise<JobCounts> {
  const before = addSeconds(now, -retentionDays * DAY);
  let deliveries = 0;
  for (const where of [{ deliveredAt: { $lt: before } }, { deliveredAt: null, failedAt: { $lt: before } }]) {
    for (;;) {
      const batch = await em.find(WebhookDeliverySchema, where, { fields: ['id'], limit: BATCH });
      if (batch.length === 0) break;
      const ids = batch.map((row) => row.id);
      await em.nativeDelete(WebhookAttemptSchema, { deliveryId: { $in: ids } });
      deliveries += await em.nativeDelete(WebhookDeliverySchema, { id: { $in: ids } });
      em.clear();
      await nextTurn();
    }
  }
  let events = 0;
  for (;;) {
    // Through the job's EntityManager: on PostgreSQL the job runs in a transaction, which must see its own deletes.
    const batch = await (em as SqlEntityManager).execute<{ id: string }[]>(
      'select e.id from webhook_events e where e.created_at < ? and not exists (select 1 from webhook_deliveries d where d.event_id = e.id) limit ?',
      [before, BATCH],
      'all',
    );
    if (batch.length === 0) break;
    events += await em.nativeDelete(WebhookEventSchema, { id: { $in: batch.map((row: { id: string }) => row.id) } });
    await nextTurn();
  }
  return { webhookDeliveries: deliveries, webhookEvents: events };
}

/** Audit events older than AUDIT_RETENTION_DAYS. */
export async function deleteOldAuditEvents(em: EntityManager, now: Date, retentionDays: number): Promise<JobCounts> {
  return { auditEvents: await deleteInBatches(em, AuditEventSchema, { createdAt: { $lt: addSeconds(now, -retentionDays * DAY) } }) };
}

/** Expired rate-limit counters in the shared PostgreSQL table (the `database` counter store). */
export async function deleteExpiredCounters(em: EntityManager, now: Date): Promise<JobCounts> {
  const result = await em.getConnection().execute<{ affectedRows?: number }>(
    'delete from rate_limits where expire < ?',
    [now.getTime() - 3_600_000],
    'run',
  );
  return { counters: Number(result.affectedRows ?? 0) };
}

/** Accounts soft-deleted more than DELETION_GRACE_DAYS ago. */
export async function purgeDeletedAccounts(em: EntityManager, now: Date, graceDays: number): Promise<JobCounts> {
  const deletedBefore = addSeconds(now, -graceDays * DAY);
  let users = 0;
  for (;;) {
    const due = await em.find(UserSchema, { deletedAt: { $lte: deletedBefore } }, { fields: ['id'], limit: BATCH });
    if (due.length === 0) break;
    users += await purgeUsers(em, due.map((user) => user.id), now);
    em.clear();
    await nextTurn();
  }
  return { users };
}
