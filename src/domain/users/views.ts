import type { components } from '../../../generated/openapi.js';
import type { EntityManager } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import type { Session, User } from '../../db/entities.js';

export type UserView = components['schemas']['User'];
export type SessionView = components['schemas']['Session'];

/** Emails are compared without regard to case and surrounding spaces. */
export const normaliseEmail = (email: string) => email.trim().toLowerCase();

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

/**
 * An account's view in one plain SQL statement. getMe is the hottest read of every client app, and building the
 * query through MikroORM costs about ten times what running it does. (SQLite gives dates as epoch milliseconds and
 * booleans as 0/1; PostgreSQL gives Date and boolean: both go through Date and Boolean.)
 */
export async function readUserView(em: EntityManager, userId: string): Promise<UserView | null> {
  const row = await (em as SqlEntityManager).execute<Record<string, unknown>>(
    'select id, email, name, role, email_verified, created_at, updated_at from users where id = ? and deleted_at is null',
    [userId],
    'get',
  );
  if (!row) return null;
  return {
    id: row.id as string,
    email: row.email as string,
    name: (row.name as string | null) ?? null,
    role: row.role as UserView['role'],
    emailVerified: Boolean(row.email_verified),
    createdAt: new Date(row.created_at as number | Date).toISOString(),
    updatedAt: new Date(row.updated_at as number | Date).toISOString(),
  };
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
