import type { EntityManager } from '@mikro-orm/core';
import { type User, PasswordResetTokenSchema, RefreshTokenSchema, RecoveryCodeSchema, MfaChallengeSchema, LoginAttemptSchema, IdentitySchema, IdentityLinkTicketSchema, OutboxMailSchema, PasskeySchema, WebauthnChallengeSchema, SessionSchema, UserSchema, InvitationSchema } from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import type { Reauthentication } from './reauthentication.js';
import type { Sessions } from '../sessions/sessions.js';
import type { Mailbox } from '../kernel/notifications.js';
import type { TransactionLocks } from '../kernel/transaction-locks.js';
import { ProblemError } from '../kernel/problem.js';
import type { ClientInfo, Principal } from '../kernel/actor.js';
import { assertAdministratorRemains, lockAdministrators } from '../admin/last-admin.js';
import { removeMembershipsOf } from '../organizations/organizations.js';
import { userData, webhookEvents } from '../webhooks/events.js';

const DAY = 86_400;

/**
 * Soft deletion and the purge that follows it. A soft-deleted account keeps its row, and so its email: nobody can
 * register that address during the grace period, and an administrator can still restore it.
 */
export class AccountDeletion {
  constructor(
    private readonly clock: Clock,
    private readonly reauthentication: Reauthentication,
    private readonly sessions: Sessions,
    private readonly mailbox: Mailbox,
    private readonly locks: TransactionLocks,
    private readonly options: { graceDays: number },
  ) {}

  /**
   * Deletes the caller's account, once the owner has proved to be at the keyboard (see Reauthentication).
   */
  async deleteOwn(em: EntityManager, principal: Principal, password: string | undefined, client: ClientInfo): Promise<void> {
    const user = await this.reauthentication.loadUser(em, principal);
    await this.reauthentication.confirm(em, user, principal, { password }, client);
    await em.transactional(async (tx) => {
      // The last usable administrator stays, as when an administrator deletes it (see AdminUsers).
      await lockAdministrators(this.locks, tx);
      const current = await tx.findOneOrFail(UserSchema, { id: user.id }, { refresh: true });
      await assertAdministratorRemains(tx, current, { deletedAt: this.clock.now() });
      await this.softDelete(tx, user);
    });
  }

  /**
   * Disables the account and ends its sessions, in the caller's transaction; the owner is mailed when it will be
   * purged. With a grace period of 0, it is purged at once.
   */
  async softDelete(em: EntityManager, user: Pick<User, 'id' | 'email'>): Promise<void> {
    const now = this.clock.now();
    const account = await em.findOne(UserSchema, { id: user.id });
    await em.nativeUpdate(UserSchema, { id: user.id }, { deletedAt: now, updatedAt: now });
    await this.sessions.revokeAllOf(em, user.id, 'account-deleted');
    await em.nativeDelete(PasswordResetTokenSchema, { userId: user.id });
    // Its organizations keep their other members, even when this was the last owner (PRODUCT §5.2).
    await removeMembershipsOf(em, [user.id], now);
    const purgeOn = this.options.graceDays > 0 ? addSeconds(now, this.options.graceDays * DAY) : null;
    this.mailbox.queue(em, now, user.email, { kind: 'account-deleted', purgeOn });
    if (account) {
      await webhookEvents.emit(em, now, 'user.deleted', { ...userData({ ...account, updatedAt: now }), hard: this.options.graceDays === 0, purgeAt: purgeOn?.toISOString() ?? null });
      await em.flush();
    }
    if (this.options.graceDays === 0) await purgeUsers(em, [user.id], now);
  }
}

/** Removes accounts for good, with everything that belongs to them. Returns how many went. */
export async function purgeUsers(em: EntityManager, userIds: string[], now: Date): Promise<number> {
  if (userIds.length === 0) return 0;
  // The outbox keeps the address of every mail: what was delivered or given up goes with the account. Mail still
  // waiting (the deletion notice, when the account is purged at once) is delivered first, and goes with the
  // delete-old-mail job after MAIL_OUTBOX_RETENTION_DAYS.
  const emails = (await em.find(UserSchema, { id: { $in: userIds } }, { fields: ['email'] })).map((user) => user.email);
  if (emails.length) {
    await em.nativeDelete(OutboxMailSchema, { recipient: { $in: emails }, $or: [{ sentAt: { $ne: null } }, { failedAt: { $ne: null } }] });
  }
  const sessionIds = (await em.find(SessionSchema, { userId: { $in: userIds } }, { fields: ['id'] })).map((s) => s.id);
  if (sessionIds.length) await em.nativeDelete(RefreshTokenSchema, { sessionId: { $in: sessionIds } });
  await em.nativeDelete(SessionSchema, { userId: { $in: userIds } });
  await em.nativeDelete(PasswordResetTokenSchema, { userId: { $in: userIds } });
  await em.nativeDelete(RecoveryCodeSchema, { userId: { $in: userIds } });
  await em.nativeDelete(MfaChallengeSchema, { userId: { $in: userIds } });
  await em.nativeDelete(LoginAttemptSchema, { userId: { $in: userIds } });
  await em.nativeDelete(IdentitySchema, { userId: { $in: userIds } });
  await em.nativeDelete(IdentityLinkTicketSchema, { userId: { $in: userIds } });
  await em.nativeDelete(PasskeySchema, { userId: { $in: userIds } });
  await em.nativeDelete(WebauthnChallengeSchema, { userId: { $in: userIds } });
  await removeMembershipsOf(em, userIds, now);
  // Invitations they sent stay valid; the spec's `invitedBy` is null once the inviter's account is gone.
  await em.nativeUpdate(InvitationSchema, { invitedBy: { $in: userIds } }, { invitedBy: null });
  return em.nativeDelete(UserSchema, { id: { $in: userIds } });
}
