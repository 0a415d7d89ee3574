import type { EntityManager } from '@mikro-orm/core';
import {
  AuditEventSchema,
  IdentitySchema,
  LoginAttemptSchema,
  PasskeySchema,
  SessionSchema,
  UserSchema,
  type AuditEvent,
} from '../../db/entities.js';
import type { Principal } from '../kernel/actor.js';
import { ProblemError } from '../kernel/problem.js';
import { remainingRecoveryCodes } from '../mfa/recovery-codes.js';
import { toPasskeyView } from '../passkeys/passkeys.js';
import type { components } from '../../../generated/openapi.js';
import { membershipsOfUser } from '../organizations/organizations.js';

type MyDataExport = components['schemas']['MyDataExport'];
type Membership = components['schemas']['ExportMembership'];

/** A key that names a credential: never in an export, wherever it hides (audit details are open maps). */
const CREDENTIAL_KEY = /password|hash|secret|token/i;

/** `value` without any key naming a credential, at any depth. */
function withoutCredentials(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutCredentials);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([key]) => !CREDENTIAL_KEY.test(key))
      .map(([key, inner]) => [key, withoutCredentials(inner)]),
  );
}

/** The organizations the account belongs to, with its role in each, oldest first. */
export async function membershipsOf(em: EntityManager, userId: string): Promise<Membership[]> {
  return (await membershipsOfUser(em, userId)).map((organization) => ({
    organizationId: organization.id,
    organizationName: organization.name,
    role: organization.role,
    joinedAt: organization.joinedAt,
  }));
}

const actorOf = (event: AuditEvent, userId: string) => (event.actorUserId === null ? 'none' : event.actorUserId === userId ? 'self' : 'another-account');

/**
 * Everything held about the signed-in account (exportMyData), as one document. Read field by field from the rows, so
 * that nothing is exported by accident: no password hash, TOTP secret, recovery code, refresh secret, passkey public
 * key, token or hash of one. Only rows of this account's id: rows of an earlier account with the same email (deleted
 * and purged) are another person's.
 */
export async function exportUserData(em: EntityManager, principal: Principal, now: Date): Promise<MyDataExport> {
  const { userId } = principal;
  const user = await em.findOne(UserSchema, { id: userId, deletedAt: null }, { populate: ['passwordHash'] });
  if (!user) throw new ProblemError('invalid-access-token', { detail: 'The account no longer exists.' });
  // One after the other: one unit of work, one connection.
  const sessions = await em.find(SessionSchema, { userId }, { orderBy: { createdAt: 'desc', id: 'asc' } });
  const attempts = await em.find(LoginAttemptSchema, { userId }, { orderBy: { createdAt: 'desc', id: 'asc' } });
  const identities = await em.find(IdentitySchema, { userId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
  const passkeys = await em.find(PasskeySchema, { userId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
  const events = await em.find(AuditEventSchema, { targetUserId: userId }, { orderBy: { createdAt: 'desc', id: 'asc' } });
  const recoveryCodesLeft = user.totpEnabledAt ? await remainingRecoveryCodes(em, userId) : 0;
  const memberships = await membershipsOf(em, userId);
  const signInMethods: Array<'password' | 'social' | 'passkey'> = [];
  if (user.passwordHash) signInMethods.push('password');
  if (identities.length > 0) signInMethods.push('social');
  if (passkeys.length > 0) signInMethods.push('passkey');
  return {
    exportedAt: now.toISOString(),
    profile: {
      id: user.id,
      email: user.email,
      name: user.name,
      role: user.role,
      emailVerified: user.emailVerified,
      createdAt: user.createdAt.toISOString(),
      updatedAt: user.updatedAt.toISOString(),
      signInMethods,
      totpEnabledAt: user.totpEnabledAt?.toISOString() ?? null,
      emailCodesEnabledAt: user.emailOtpEnabledAt?.toISOString() ?? null,
      recoveryCodesLeft,
    },
    sessions: sessions.map((session) => ({
      id: session.id,
      current: session.id === principal.sessionId,
      createdAt: session.createdAt.toISOString(),
      lastActiveAt: session.lastActiveAt.toISOString(),
      expiresAt: session.expiresAt.toISOString(),
      revokedAt: session.revokedAt?.toISOString() ?? null,
      revokedReason: session.revokedReason,
      ip: session.ip,
      userAgent: session.userAgent,
      deviceType: session.deviceType,
      browser: session.browser,
      os: session.os,
    })),
    loginHistory: attempts.map((attempt) => ({
      id: attempt.id,
      createdAt: attempt.createdAt.toISOString(),
      outcome: attempt.outcome,
      method: attempt.method,
      reason: attempt.reason,
      ip: attempt.ip,
      userAgent: attempt.userAgent,
      deviceType: attempt.deviceType,
      browser: attempt.browser,
      os: attempt.os,
    })),
    identities: identities.map((identity) => ({
      provider: identity.provider,
      subject: identity.subject,
      email: identity.email,
      createdAt: identity.createdAt.toISOString(),
      lastUsedAt: identity.lastUsedAt.toISOString(),
    })),
    passkeys: passkeys.map(toPasskeyView),
    memberships,
    auditEvents: events.map((event) => ({
      id: event.id,
      createdAt: event.createdAt.toISOString(),
      action: event.action,
      outcome: event.outcome,
      actor: actorOf(event, userId),
      ip: event.ip,
      userAgent: event.userAgent,
      details: event.details === null ? null : (withoutCredentials(event.details) as Record<string, unknown>),
    })),
  };
}
