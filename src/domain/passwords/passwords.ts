import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { IdentitySchema, PasswordResetTokenSchema, UserSchema } from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import { hashToken, randomSecret } from '../tokens/secrets.js';
import { assertStrongPassword } from './policy.js';
import type { PasswordHasher } from './hasher.js';
import type { Sessions } from '../sessions/sessions.js';
import type { Mailbox } from '../kernel/notifications.js';
import { normaliseEmail } from '../users/views.js';
import { ProblemError } from '../kernel/problem.js';
import type { ClientInfo, Principal } from '../kernel/actor.js';
import type { Reauthentication } from '../users/reauthentication.js';
import { webhookEvents } from '../webhooks/events.js';

export interface PasswordOptions {
  appUrl: string;
  resetTtlSeconds: number;
}

/** Forgotten-password links, resets and changes. */
export class Passwords {
  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    private readonly hasher: PasswordHasher,
    private readonly sessions: Sessions,
    private readonly reauthentication: Reauthentication,
    private readonly logger: Logger,
    private readonly mailbox: Mailbox,
    private readonly options: PasswordOptions,
  ) {}

  /**
   * Starts a reset for the email, if it has an account, after the caller has answered: the response is then the
   * same, in body and timing, for known and unknown emails. The work is a few milliseconds; should the process
   * die in between, the person simply asks again.
   */
  requestReset(email: string, afterWork: () => void): void {
    this.createResetLink(normaliseEmail(email))
      .then((queued) => queued && afterWork())
      .catch((error) => this.logger.error({ err: error }, 'password reset request failed'));
  }

  /** Returns whether a mail was queued. Earlier unused links of the account stop working. */
  async createResetLink(email: string): Promise<boolean> {
    return this.orm.em.fork().transactional(async (tx) => {
      const now = this.clock.now();
      const user = await tx.findOne(UserSchema, { email, deletedAt: null }, { fields: ['id', 'email'] });
      if (!user) return false;
      await tx.nativeDelete(PasswordResetTokenSchema, { userId: user.id, usedAt: null });
      const token = randomSecret();
      tx.create(PasswordResetTokenSchema, {
        id: randomUUID(),
        userId: user.id,
        tokenHash: hashToken(token),
        createdAt: now,
        expiresAt: addSeconds(now, this.options.resetTtlSeconds),
        usedAt: null,
      });
      const link = `${this.options.appUrl}/reset-password?token=${encodeURIComponent(token)}`;
      const identities = await tx.find(IdentitySchema, { userId: user.id }, { fields: ['provider', 'email'], orderBy: { createdAt: 'asc' } });
      this.mailbox.queue(tx, now, user.email, { kind: 'password-reset', link, ttlSeconds: this.options.resetTtlSeconds, identities });
      return true;
    });
  }

  /**
   * Sets a new password with a reset link. The link is checked before the (costly) hash is made, so that garbage
   * tokens cost nothing, and spent after it by a conditional update, so that of several concurrent uses exactly one
   * wins; every session of the account ends. With `unlinkIdentities`, every linked provider identity goes too: a
   * reset is how an owner takes an account back, and an identity someone else linked would otherwise still open it.
   */
  async resetWithToken(
    em: EntityManager,
    token: string,
    newPassword: string,
    options: { unlinkIdentities?: boolean } = {},
  ): Promise<{ userId: string; email: string }> {
    assertStrongPassword(newPassword);
    const invalid = () =>
      new ProblemError('invalid-reset-token', { detail: 'The link is unknown, was already used, was replaced by a newer one, or has expired.' });
    const tokenHash = hashToken(token);
    const live = await em.count(PasswordResetTokenSchema, { tokenHash, usedAt: null, expiresAt: { $gt: this.clock.now() } });
    if (live !== 1) throw invalid();
    const passwordHash = await this.hasher.hash(newPassword);
    return em.transactional(async (tx) => {
      const now = this.clock.now();
      const spent = await tx.nativeUpdate(
        PasswordResetTokenSchema,
        { tokenHash, usedAt: null, expiresAt: { $gt: now } },
        { usedAt: now },
      );
      if (spent !== 1) throw invalid();
      const { userId } = await tx.findOneOrFail(PasswordResetTokenSchema, { tokenHash });
      const user = await tx.findOne(UserSchema, { id: userId, deletedAt: null });
      if (!user) throw invalid();
      user.passwordHash = passwordHash;
      user.updatedAt = now;
      await this.sessions.revokeAllOf(tx, user.id, 'password-reset');
      const unlinked = options.unlinkIdentities ? await tx.find(IdentitySchema, { userId: user.id }, { fields: ['id', 'provider', 'email'] }) : [];
      if (unlinked.length) await tx.nativeDelete(IdentitySchema, { id: { $in: unlinked.map((identity) => identity.id) } });
      this.mailbox.queue(tx, now, user.email, { kind: 'password-changed', how: 'reset', appUrl: this.options.appUrl, unlinked });
      await webhookEvents.emit(tx, now, 'password.reset', { userId: user.id });
      for (const identity of unlinked) {
        await webhookEvents.emit(tx, now, 'identity.unlinked', { userId: user.id, identity: { provider: identity.provider, email: identity.email } });
      }
      return { userId: user.id, email: user.email };
    });
  }

  /**
   * Changes the password of the signed-in user, a step-up operation: the current password when the account has one;
   * an account without one (made through a social provider) sets its first password with a current code or a fresh
   * sign-in (see Reauthentication). Wrong proofs are counted like sign-ins. Every other session ends.
   */
  async change(
    em: EntityManager,
    principal: Principal,
    input: { currentPassword?: string; code?: string; newPassword: string },
    client: ClientInfo,
  ): Promise<void> {
    const user = await this.reauthentication.loadUser(em, principal);
    const hadPassword = Boolean(user.passwordHash);
    if (hadPassword && input.currentPassword === undefined) throw currentPasswordIncorrect('Send the current password.');
    try {
      await this.reauthentication.confirm(em, user, principal, hadPassword ? { password: input.currentPassword } : { code: input.code }, client);
    } catch (error) {
      if (hadPassword && error instanceof ProblemError && error.code === 'reauthentication-required') {
        throw currentPasswordIncorrect('The current password is not correct.');
      }
      throw error;
    }
    assertStrongPassword(input.newPassword, '/body/newPassword');
    const passwordHash = await this.hasher.hash(input.newPassword);
    await em.transactional(async (tx) => {
      const now = this.clock.now();
      await tx.nativeUpdate(UserSchema, { id: user.id }, { passwordHash, updatedAt: now });
      await this.sessions.revokeAllOf(tx, user.id, 'password-change', { except: principal.sessionId });
      await tx.nativeDelete(PasswordResetTokenSchema, { userId: user.id, usedAt: null });
      this.mailbox.queue(tx, now, user.email, { kind: 'password-changed', how: hadPassword ? 'change' : 'set', appUrl: this.options.appUrl });
      await webhookEvents.emit(tx, now, 'password.changed', { userId: user.id });
    });
  }
}

const currentPasswordIncorrect = (detail: string) =>
  new ProblemError('current-password-incorrect', { detail, errors: [{ pointer: '/body/currentPassword', detail: 'missing or not correct' }] });
