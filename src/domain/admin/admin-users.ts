import type { EntityManager } from '@mikro-orm/core';
import { UserSchema, type User } from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import { findPage } from '../pagination.js';
import type { Sessions } from '../sessions/sessions.js';
import type { AccountDeletion } from '../users/deletion.js';
import { purgeUsers } from '../users/deletion.js';
import type { TransactionLocks } from '../kernel/transaction-locks.js';
import { ProblemError } from '../kernel/problem.js';
import { toUserView } from '../users/views.js';
import { assertAdministratorRemains, lockAdministrators } from './last-admin.js';
import type { components } from '../../../generated/openapi.js';
import { userData, webhookEvents } from '../webhooks/events.js';

type AdminUserView = components['schemas']['AdminUser'];
type UserStatus = components['schemas']['UserStatus'];
type UpdateRequest = components['schemas']['AdminUpdateUserRequest'];

const DAY = 86_400;

/** User administration: listing, changes, locks, deletion and restore, with the last usable administrator protected. */
export class AdminUsers {
  constructor(
    private readonly clock: Clock,
    private readonly sessions: Sessions,
    private readonly deletion: AccountDeletion,
    private readonly locks: TransactionLocks,
    private readonly options: { deletionGraceDays: number },
  ) {}

  view(user: User): AdminUserView {
    const status: UserStatus = user.deletedAt ? 'pending-deletion' : user.lockedAt ? 'locked' : 'active';
    return {
      ...toUserView(user),
      status,
      lockedAt: user.lockedAt?.toISOString() ?? null,
      deletedAt: user.deletedAt?.toISOString() ?? null,
      purgeAt: user.deletedAt ? addSeconds(user.deletedAt, this.options.deletionGraceDays * DAY).toISOString() : null,
      hasPassword: Boolean(user.passwordHash),
      mfaEnabled: Boolean(user.totpEnabledAt || user.emailOtpEnabledAt),
    };
  }

  async list(em: EntityManager, filter: { email?: string; status?: UserStatus; role?: 'user' | 'admin'; limit: number; cursor?: string }) {
    const where: Record<string, unknown> = {};
    // A prefix as a range: no LIKE wildcards to escape (SQLite has no default escape character), and the index serves it.
    if (filter.email) {
      const prefix = filter.email.trim().toLowerCase();
      where.email = { $gte: prefix, $lt: `${prefix}\uffff` };
    }
    if (filter.role) where.role = filter.role;
    if (filter.status === 'pending-deletion') where.deletedAt = { $ne: null };
    if (filter.status === 'locked') Object.assign(where, { deletedAt: null, lockedAt: { $ne: null } });
    if (filter.status === 'active') Object.assign(where, { deletedAt: null, lockedAt: null });
    return findPage(em, UserSchema, where, filter, (user) => this.view(user), { populate: ['passwordHash'] });
  }

  async get(em: EntityManager, userId: string, options: { refresh?: boolean } = {}): Promise<User> {
    const user = await em.findOne(UserSchema, { id: userId }, { populate: ['passwordHash'], refresh: options.refresh });
    if (!user) throw new ProblemError('not-found', { detail: 'There is no user with this id.' });
    return user;
  }

  async update(em: EntityManager, userId: string, changes: UpdateRequest): Promise<User> {
    return em.transactional(async (tx) => {
      await lockAdministrators(this.locks, tx);
      // Read after the lock (refresh: not the copy an earlier read of this request may have left in the identity map).
      const user = await this.get(tx, userId, { refresh: true });
      const now = this.clock.now();
      const lockedAt = changes.locked === undefined || changes.locked === Boolean(user.lockedAt) ? user.lockedAt : changes.locked ? now : null;
      await assertAdministratorRemains(tx, user, { role: changes.role, emailVerified: changes.emailVerified, lockedAt });
      if (changes.role !== undefined) user.role = changes.role;
      const lockedNow = lockedAt !== user.lockedAt && Boolean(changes.locked);
      if (lockedAt !== user.lockedAt) {
        user.lockedAt = lockedAt;
        if (changes.locked) await this.sessions.revokeAllOf(tx, user.id, 'locked-by-admin');
      }
      if (changes.emailVerified !== undefined) {
        user.emailVerified = changes.emailVerified;
        if (!changes.emailVerified) await this.sessions.revokeAllOf(tx, user.id, 'locked-by-admin');
      }
      if (changes.name !== undefined) user.name = changes.name;
      user.updatedAt = now;
      await webhookEvents.emit(tx, now, 'user.updated', userData(user));
      if (lockedNow) await webhookEvents.emit(tx, now, 'user.locked', { ...userData(user), reason: 'admin', until: null });
      return user;
    });
  }

  async delete(em: EntityManager, userId: string, hard: boolean): Promise<void> {
    await em.transactional(async (tx) => {
      await lockAdministrators(this.locks, tx);
      const user = await this.get(tx, userId, { refresh: true });
      await assertAdministratorRemains(tx, user, { deletedAt: this.clock.now() });
      if (hard) {
        const now = this.clock.now();
        await purgeUsers(tx, [user.id], now);
        await webhookEvents.emit(tx, now, 'user.deleted', { ...userData(user), hard: true, purgeAt: null });
        await tx.flush();
      } else if (!user.deletedAt) await this.deletion.softDelete(tx, user);
    });
  }

  async restore(em: EntityManager, userId: string): Promise<User> {
    const user = await this.get(em, userId);
    if (!user.deletedAt) throw new ProblemError('not-deleted', { detail: 'The account is not deleted.' });
    user.deletedAt = null;
    user.updatedAt = this.clock.now();
    await webhookEvents.emit(em, user.updatedAt, 'user.restored', userData(user));
    await em.flush();
    return user;
  }

}
