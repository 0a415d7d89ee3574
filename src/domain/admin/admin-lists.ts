import type { EntityManager } from '@mikro-orm/core';
import { AuditEventSchema, BlockedIpSchema, LoginAttemptSchema } from '../../db/entities.js';
import { findPage } from '../pagination.js';
import { normaliseEmail } from '../users/views.js';

type PageRequest = { limit: number; cursor?: string };

/** Time bounds of the admin lists: `from` inclusive, `to` exclusive. */
function between(from?: string, to?: string): Record<string, unknown> {
  if (!from && !to) return {};
  return { createdAt: { ...(from ? { $gte: new Date(from) } : {}), ...(to ? { $lt: new Date(to) } : {}) } };
}

/** Sign-in attempts of every account, newest first, filtered (adminListLoginAttempts). */
export function listLoginAttempts(
  em: EntityManager,
  filter: { userId?: string; email?: string; ip?: string; outcome?: string; from?: string; to?: string },
  request: PageRequest,
) {
  const where = {
    ...(filter.userId ? { userId: filter.userId } : {}),
    ...(filter.email ? { email: normaliseEmail(filter.email) } : {}),
    ...(filter.ip ? { ip: filter.ip } : {}),
    ...(filter.outcome ? { outcome: filter.outcome } : {}),
    ...between(filter.from, filter.to),
  };
  return findPage(em, LoginAttemptSchema, where, request, (row) => ({
    id: row.id,
    createdAt: row.createdAt.toISOString(),
    email: row.email,
    userId: row.userId,
    ip: row.ip,
    userAgent: row.userAgent,
    outcome: row.outcome,
    reason: row.reason,
    method: row.method,
  }));
}

/** The IP blocks in force at `now` (all of them, lifted and expired too, with `all`), newest first (adminListBlockedIps). */
export async function listBlockedIps(em: EntityManager, now: Date, options: { all?: boolean }) {
  const rows = await em.find(BlockedIpSchema, options.all ? {} : { unblockedAt: null, expiresAt: { $gt: now } }, {
    orderBy: { blockedAt: 'desc' },
    limit: 1000,
  });
  return rows.map((row) => ({
    ip: row.ip,
    blockedAt: row.blockedAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    failures: row.failures,
    active: !row.unblockedAt && row.expiresAt > now,
  }));
}

/** The audit trail, newest first, filtered (adminListAuditEvents). */
export function listAuditEvents(
  em: EntityManager,
  filter: { action?: string; actorId?: string; targetId?: string; from?: string; to?: string },
  request: PageRequest,
) {
  const where = {
    ...(filter.action ? { action: filter.action } : {}),
    ...(filter.actorId ? { actorUserId: filter.actorId } : {}),
    ...(filter.targetId ? { targetUserId: filter.targetId } : {}),
    ...between(filter.from, filter.to),
  };
  return findPage(em, AuditEventSchema, where, request, (row) => ({
    id: row.id,
    createdAt: row.createdAt.toISOString(),
    action: row.action,
    outcome: row.outcome,
    actorUserId: row.actorUserId,
    targetUserId: row.targetUserId,
    ip: row.ip,
    details: row.details,
  }));
}
