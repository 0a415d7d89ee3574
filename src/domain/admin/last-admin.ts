import type { EntityManager } from '@mikro-orm/core';
import { UserSchema, type User } from '../../db/entities.js';
import { ProblemError } from '../kernel/problem.js';
import type { TransactionLocks } from '../kernel/transaction-locks.js';

type AdminState = Pick<User, 'role' | 'emailVerified' | 'lockedAt' | 'deletedAt'>;

/** An administrator who can act: the role, a verified email, not locked, not deleted. Only these count. */
export const isUsableAdmin = (user: AdminState): boolean => user.role === 'admin' && user.emailVerified && !user.lockedAt && !user.deletedAt;

/**
 * Makes the changes that can take an administrator away take turns, until the caller's transaction ends. Without
 * it, two of them on PostgreSQL (two administrators locking each other) each count the other as the one that
 * remains, and both commit. An advisory lock rather than `FOR UPDATE` on the admin rows: it also orders changes
 * whose rows do not overlap. SQLite has one writer, so its transactions take turns already.
 */
export async function lockAdministrators(locks: TransactionLocks, em: EntityManager): Promise<void> {
  await locks.lock(em, 'pulse-auth:administrators');
}

/**
 * Refuses (`409 last-admin`) a change of `user` (the fields of `after` that are not undefined) that takes away
 * the last usable administrator. Call it after lockAdministrators, with `user` as read after the lock.
 */
export async function assertAdministratorRemains(em: EntityManager, user: User, after: Partial<AdminState>): Promise<void> {
  const changed = Object.fromEntries(Object.entries(after).filter(([, value]) => value !== undefined));
  if (!isUsableAdmin(user) || isUsableAdmin({ ...user, ...changed })) return;
  const others = await em.count(UserSchema, { role: 'admin', emailVerified: true, lockedAt: null, deletedAt: null, id: { $ne: user.id } });
  if (others === 0) throw new ProblemError('last-admin', { detail: 'Make another account an administrator first.' });
}
