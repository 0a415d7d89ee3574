import type { EntityManager } from '@mikro-orm/core';
import { PasswordResetTokenSchema, RefreshTokenSchema, SessionSchema, UserSchema } from '../../db/entities.js';
import { addSeconds, type Clock } from '../clock.js';
import type { PasswordHasher } from '../passwords/hasher.js';
import type { Sessions } from '../sessions/sessions.js';
import { enqueueMail } from '../../mail/outbox.js';
import { accountDeletedMail } from '../../mail/templates.js';
import { ProblemError } from '../../http/problem.js';
import type { Principal } from '../../http/context.js';

const DAY = 86_400;

/**
 * Soft deletion and the purge that follows it. A soft-deleted account keeps its row, and so its email: nobody can
 * register that address during the grace period, and an administrator can still restore it.
 */
export class AccountDeletion {
  constructor(
    private readonly clock: Clock,
    private readonly hasher: PasswordHasher,
    private readonly sessions: Sessions,
    private readonly options: { graceDays: number; reauthMaxAgeSeconds: number },
  ) {}

  /**
   * Deletes the caller's account. Proof that the owner is at the keyboard: the password, or, for an account with
   * none, a session that signed in within REAUTH_MAX_AGE.
   */
  async deleteOwn(em: EntityManager, principal: Principal, password: string | undefined): Promise<void> {
    const now = this.clock.now();
    const user = await em.findOne(UserSchema, { id: principal.userId, deletedAt: null }, { populate: ['passwordHash'] });
    if (!user) throw new ProblemError('invalid-access-token', { detail: 'The account no longer exists.' });
    if (user.passwordHash) {
      if (password === undefined || !(await this.hasher.verify(password, user.passwordHash))) {
        throw new ProblemError('reauthentication-required', {
          detail: password === undefined ? 'Send the password to confirm.' : 'The password is not correct.',
          errors: [{ pointer: '/body/password', detail: 'missing or not correct' }],
        });
      }
    } else {
      const session = await em.findOneOrFail(SessionSchema, { id: principal.sessionId });
      if (now.getTime() - session.createdAt.getTime() > this.options.reauthMaxAgeSeconds * 1000) {
        throw new ProblemError('reauthentication-required', {
          detail: `Sign in again (within the last ${Math.round(this.options.reauthMaxAgeSeconds / 60)} minutes) to delete this account.`,
        });
      }
    }

    await em.transactional(async (tx) => {
      await tx.nativeUpdate(UserSchema, { id: user.id }, { deletedAt: now, updatedAt: now });
      await this.sessions.revokeAllOf(tx, user.id, 'account-deleted');
      await tx.nativeDelete(PasswordResetTokenSchema, { userId: user.id });
      const purgeOn = this.options.graceDays > 0 ? addSeconds(now, this.options.graceDays * DAY) : null;
      enqueueMail(tx, now, user.email, accountDeletedMail({ purgeOn }));
      if (this.options.graceDays === 0) await purgeUsers(tx, [user.id]);
    });
  }
}

/** Removes accounts for good, with everything that belongs to them. Returns how many went. */
export async function purgeUsers(em: EntityManager, userIds: string[]): Promise<number> {
  if (userIds.length === 0) return 0;
  const sessionIds = (await em.find(SessionSchema, { userId: { $in: userIds } }, { fields: ['id'] })).map((s) => s.id);
  if (sessionIds.length) await em.nativeDelete(RefreshTokenSchema, { sessionId: { $in: sessionIds } });
  await em.nativeDelete(SessionSchema, { userId: { $in: userIds } });
  await em.nativeDelete(PasswordResetTokenSchema, { userId: { $in: userIds } });
  return em.nativeDelete(UserSchema, { id: { $in: userIds } });
}
