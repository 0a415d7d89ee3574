import type { components } from '../../../generated/openapi.js';
import type { EntityManager } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import type { Session, User } from '../../db/entities.js';
import { USER_COLUMNS, userFromRow } from '../../db/rows.js';

export type UserView = components['schemas']['User'];
export type SessionView = components['schemas']['Session'];

/** Emails are compared without regard to case and surrounding spaces. */
export const normaliseEmail = (email: string) => email.trim().toLowerCase();

/**
 * A display name from elsewhere (a provider's `name` claim) as the spec's DisplayName allows names: control
 * characters (line breaks, tabs) become spaces, at most 100 characters; nothing left is no name.
 */
export function displayNameFrom(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const name = value.replace(/[\x00-\x1F\x7F-\x9F]+/g, ' ').trim().slice(0, 100).trim();
  return name || null;
}

export function toUserView(user: User): UserView {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    emailVerified: user.emailVerified,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

/** An account's view in one plain SQL statement (getMe: see db/rows.ts for why not through MikroORM). */
export async function readUserView(em: EntityManager, userId: string): Promise<UserView | null> {
  const row = await (em as SqlEntityManager).execute<Record<string, unknown>>(
    `select ${USER_COLUMNS} from users where id = ? and deleted_at is null`,
    [userId],
    'get',
  );
  return row ? toUserView(userFromRow(row)) : null;
}

export function toSessionView(session: Session, currentSessionId: string | undefined): SessionView {
  return {
    id: session.id,
    current: session.id === currentSessionId,
    deviceType: session.deviceType,
    browser: session.browser,
    os: session.os,
    ip: session.ip,
    createdAt: session.createdAt.toISOString(),
    lastActiveAt: session.lastActiveAt.toISOString(),
    expiresAt: session.expiresAt.toISOString(),
  };
}
