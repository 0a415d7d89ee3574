import { createHmac, randomInt, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import { MfaChallengeSchema, PasskeySchema, RecoveryCodeSchema, UserSchema, type MfaChallenge, type User } from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import { constantTimeEqual } from '../tokens/secrets.js';
import { newTotpSecret, checkTotp, totpUri } from './totp.js';
import { remainingRecoveryCodes, replaceRecoveryCodes, spendRecoveryCode } from './recovery-codes.js';
import type { Proof, Reauthentication } from '../users/reauthentication.js';
import type { Invalidations } from '../cache/invalidations.js';
import type { Mailbox } from '../kernel/notifications.js';
import { ProblemError } from '../kernel/problem.js';
import type { ClientInfo, Principal } from '../kernel/actor.js';
import type { components } from '../../../generated/openapi.js';
import { webhookEvents } from '../webhooks/events.js';

export type MfaMethod = components['schemas']['MfaMethod'];
export type MfaStatus = components['schemas']['MfaStatus'];

export interface MfaOptions {
  issuer: string;
  appUrl: string;
  challengeTtlSeconds: number;
  maxAttempts: number;
}

/** The second factors a sign-in of this user accepts. */
export function mfaMethodsOf(user: User): MfaMethod[] {
  return [...(user.totpEnabledAt ? (['totp', 'recovery-code'] as const) : []), ...(user.emailOtpEnabledAt ? (['email'] as const) : [])];
}

const emailCodeHash = (challengeId: string, code: string) => createHmac('sha256', challengeId).update(code).digest('hex');

/** Enrolment and use of second factors: authenticator apps (TOTP), email codes, recovery codes. */
export class Mfa {
  constructor(
    private readonly clock: Clock,
    private readonly reauthentication: Reauthentication,
    private readonly invalidations: Invalidations,
    private readonly mailbox: Mailbox,
    private readonly options: MfaOptions,
  ) {}

  async status(em: EntityManager, userId: string): Promise<MfaStatus> {
    const user = await em.findOneOrFail(UserSchema, { id: userId });
    return {
      totpEnabled: Boolean(user.totpEnabledAt),
      emailOtpEnabled: Boolean(user.emailOtpEnabledAt),
      recoveryCodesRemaining: user.totpEnabledAt ? await remainingRecoveryCodes(em, userId) : 0,
      passkeys: await em.count(PasskeySchema, { userId }),
    };
  }

  /** A step-up operation: whoever holds only a session must not be able to add a factor the owner lacks. */
  async enrollTotp(em: EntityManager, principal: Principal, proof: Proof, client: ClientInfo) {
    const user = await this.reauthentication.loadUser(em, principal);
    if (user.totpEnabledAt) throw new ProblemError('totp-already-enabled', { detail: 'Turn the authenticator app off before enrolling another one.' });
    await this.reauthentication.confirm(em, user, principal, proof, client);
    user.totpSecret = newTotpSecret();
    user.totpLastStep = null;
    await em.flush();
    return { secret: user.totpSecret, otpauthUri: totpUri({ issuer: this.options.issuer, account: user.email, secret: user.totpSecret }) };
  }

  async confirmTotp(em: EntityManager, principal: Principal, code: string): Promise<string[]> {
    const user = await this.reauthentication.loadUser(em, principal);
    if (user.totpEnabledAt) throw new ProblemError('totp-already-enabled', { detail: 'The authenticator app is already on.' });
    if (!user.totpSecret) throw new ProblemError('totp-not-enabled', { detail: 'Start with enrollTotp.' });
    const step = await checkTotp(user.totpSecret, code, this.clock.now(), null);
    if (step === null) {
      throw new ProblemError('invalid-totp-code', {
        detail: 'The code does not match. Check the clock of the device and try the next code.',
        errors: [{ pointer: '/body/code', detail: 'does not match the enrolled secret' }],
      });
    }
    return em.transactional(async (tx) => {
      const now = this.clock.now();
      await tx.nativeUpdate(UserSchema, { id: user.id }, { totpEnabledAt: now, totpLastStep: step, updatedAt: now });
      await this.invalidations.userChanged(tx, user.id);
      this.mailbox.queue(tx, now, user.email, { kind: 'security-change', change: { kind: 'totp-enabled' }, appUrl: this.options.appUrl });
      await webhookEvents.emit(tx, now, 'mfa.enabled', { userId: user.id, method: 'totp' });
      return replaceRecoveryCodes(tx, user.id, now);
    });
  }

  async disableTotp(em: EntityManager, principal: Principal, proof: Proof, client: ClientInfo): Promise<void> {
    const user = await this.reauthentication.loadUser(em, principal);
    await this.reauthentication.confirm(em, user, principal, proof, client);
    await em.transactional(async (tx) => {
      const now = this.clock.now();
      const turnedOff = await tx.nativeUpdate(UserSchema, { id: user.id, totpEnabledAt: { $ne: null } }, { totpSecret: null, totpEnabledAt: null, totpLastStep: null, updatedAt: now });
      if (turnedOff === 0) await tx.nativeUpdate(UserSchema, { id: user.id }, { totpSecret: null, totpLastStep: null, updatedAt: now });
      await this.invalidations.userChanged(tx, user.id);
      await tx.nativeDelete(RecoveryCodeSchema, { userId: user.id });
      if (turnedOff) await webhookEvents.emit(tx, now, 'mfa.disabled', { userId: user.id, method: 'totp' });
    });
  }

  /** A step-up operation, like enrollTotp. Turning it on again when it is on changes nothing and mails nobody. */
  async enableEmailOtp(em: EntityManager, principal: Principal, proof: Proof, client: ClientInfo): Promise<MfaStatus> {
    const user = await this.reauthentication.loadUser(em, principal);
    if (!user.emailOtpEnabledAt) {
      await this.reauthentication.confirm(em, user, principal, proof, client);
      await em.transactional(async (tx) => {
        const now = this.clock.now();
        const turnedOn = await tx.nativeUpdate(UserSchema, { id: user.id, emailOtpEnabledAt: null }, { emailOtpEnabledAt: now, updatedAt: now });
        if (turnedOn === 0) return;
        await this.invalidations.userChanged(tx, user.id);
        this.mailbox.queue(tx, now, user.email, { kind: 'security-change', change: { kind: 'email-otp-enabled' }, appUrl: this.options.appUrl });
        await webhookEvents.emit(tx, now, 'mfa.enabled', { userId: user.id, method: 'email' });
      });
    }
    return this.status(em.fork(), principal.userId);
  }

  async disableEmailOtp(em: EntityManager, principal: Principal, proof: Proof, client: ClientInfo): Promise<void> {
    const user = await this.reauthentication.loadUser(em, principal);
    await this.reauthentication.confirm(em, user, principal, proof, client);
    await em.transactional(async (tx) => {
      const now = this.clock.now();
      const turnedOff = await tx.nativeUpdate(UserSchema, { id: user.id, emailOtpEnabledAt: { $ne: null } }, { emailOtpEnabledAt: null, updatedAt: now });
      await this.invalidations.userChanged(tx, user.id);
      if (turnedOff) await webhookEvents.emit(tx, now, 'mfa.disabled', { userId: user.id, method: 'email' });
    });
  }

  async regenerateRecoveryCodes(em: EntityManager, principal: Principal, proof: Proof, client: ClientInfo): Promise<string[]> {
    const user = await this.reauthentication.loadUser(em, principal);
    if (!user.totpEnabledAt) throw new ProblemError('totp-not-enabled', { detail: 'Recovery codes come with an authenticator app; turn one on first.' });
    await this.reauthentication.confirm(em, user, principal, proof, client);
    return em.transactional((tx) => replaceRecoveryCodes(tx, user.id, this.clock.now()));
  }

  /**
   * An administrator turns every second factor of a user off (a lost phone, or a factor someone else added):
   * the authenticator app with its recovery codes, email codes, and sign-ins waiting for a second factor. The
   * owner is mailed. False when there is no such user.
   */
  async resetByAdmin(em: EntityManager, userId: string): Promise<boolean> {
    return em.transactional(async (tx) => {
      const user = await tx.findOne(UserSchema, { id: userId }, { fields: ['id', 'email', 'totpEnabledAt', 'emailOtpEnabledAt'] });
      if (!user) return false;
      const now = this.clock.now();
      if (user.totpEnabledAt) await webhookEvents.emit(tx, now, 'mfa.disabled', { userId: user.id, method: 'totp' });
      if (user.emailOtpEnabledAt) await webhookEvents.emit(tx, now, 'mfa.disabled', { userId: user.id, method: 'email' });
      await tx.nativeUpdate(
        UserSchema,
        { id: user.id },
        { totpSecret: null, totpEnabledAt: null, totpLastStep: null, emailOtpEnabledAt: null, updatedAt: now },
      );
      await tx.nativeDelete(RecoveryCodeSchema, { userId: user.id });
      await tx.nativeDelete(MfaChallengeSchema, { userId: user.id, consumedAt: null });
      await this.invalidations.userChanged(tx, user.id);
      this.mailbox.queue(tx, now, user.email, { kind: 'security-change', change: { kind: 'mfa-reset-by-admin' }, appUrl: this.options.appUrl });
      return true;
    });
  }

  /** A sign-in waiting for its second factor; with email codes on, the code is mailed in the same transaction. */
  async startChallenge(em: EntityManager, user: User, client: ClientInfo, delivery: 'cookie' | 'body'): Promise<MfaChallenge> {
    return em.transactional(async (tx) => {
      const now = this.clock.now();
      const id = randomUUID();
      const code = user.emailOtpEnabledAt ? String(randomInt(0, 1_000_000)).padStart(6, '0') : null;
      const challenge = tx.create(MfaChallengeSchema, {
        id,
        userId: user.id,
        createdAt: now,
        expiresAt: addSeconds(now, this.options.challengeTtlSeconds),
        attempts: 0,
        consumedAt: null,
        emailCodeHash: code ? emailCodeHash(id, code) : null,
        ip: client.ip,
        userAgent: client.userAgent,
        refreshTokenDelivery: delivery,
      });
      if (code) this.mailbox.queue(tx, now, user.email, { kind: 'sign-in-code', code, ttlSeconds: this.options.challengeTtlSeconds });
      return challenge;
    });
  }

  /** The challenge and the user it would sign in; null when either is gone (a lock or deletion after the challenge started still stops it). */
  async openChallenge(em: EntityManager, challengeId: string): Promise<{ challenge: MfaChallenge; user: User } | null> {
    const challenge = await em.findOne(MfaChallengeSchema, { id: challengeId });
    const user = challenge
      ? await em.findOne(UserSchema, { id: challenge.userId, deletedAt: null, lockedAt: null, emailVerified: true }, { populate: ['totpSecret'] })
      : null;
    return challenge && user ? { challenge, user } : null;
  }

  /**
   * Checks a code against an open challenge. The attempt is counted (atomically, in the database) before the code
   * is checked, so that of any number of codes sent at once at most MFA_MAX_ATTEMPTS are checked. A wrong code says
   * how many tries are left; the right one spends the challenge, so it works once even when sent twice at once.
   * `checked` says whether a code was compared at all (false for a used, expired or exhausted challenge).
   */
  async tryCode(
    em: EntityManager,
    { challenge, user }: { challenge: MfaChallenge; user: User },
    input: { code: string; method?: MfaMethod },
  ): Promise<{ ok: true; method: MfaMethod } | { ok: false; checked: boolean; problem: ProblemError }> {
    const now = this.clock.now();
    const spent = (checked: boolean) => ({
      ok: false as const,
      checked,
      problem: new ProblemError('mfa-challenge-invalid', { detail: 'The challenge is unknown, used, expired or locked. Sign in again.' }),
    });
    const counted: { attempts: number } | undefined = await (em as SqlEntityManager).execute<{ attempts: number }>(
      'update mfa_challenges set attempts = attempts + 1 where id = ? and consumed_at is null and expires_at > ? and attempts < ? returning attempts',
      [challenge.id, now, this.options.maxAttempts],
      'get',
    );
    if (!counted) return spent(false);

    const method = input.method ?? this.guessMethod(user, input.code);
    if (!(await this.checkCode(em, user, challenge, method, input.code, now))) {
      const left = this.options.maxAttempts - Number(counted.attempts);
      if (left <= 0) return spent(true);
      return { ok: false, checked: true, problem: new ProblemError('invalid-mfa-code', { detail: `The code is not valid. ${left} ${left === 1 ? 'try' : 'tries'} left.` }) };
    }
    const claimed = await em.nativeUpdate(MfaChallengeSchema, { id: challenge.id, consumedAt: null }, { consumedAt: now });
    if (claimed !== 1) return spent(true);
    return { ok: true, method };
  }

  private guessMethod(user: User, code: string): MfaMethod {
    if (!/^\d{6}$/.test(code)) return 'recovery-code';
    return user.totpEnabledAt ? 'totp' : 'email';
  }

  private async checkCode(em: EntityManager, user: User, challenge: MfaChallenge, method: MfaMethod, code: string, now: Date) {
    switch (method) {
      case 'totp':
        return Boolean(user.totpEnabledAt) && this.reauthentication.useTotpCode(em, user, code);
      case 'recovery-code':
        return Boolean(user.totpEnabledAt) && spendRecoveryCode(em, user.id, code, now);
      case 'email':
        return Boolean(challenge.emailCodeHash) && constantTimeEqual(emailCodeHash(challenge.id, code), challenge.emailCodeHash!);
    }
  }
}
