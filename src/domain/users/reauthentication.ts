import type { EntityManager } from '@mikro-orm/core';
import { SessionSchema, UserSchema, type User } from '../../db/entities.js';
import type { Clock } from '../kernel/clock.js';
import type { PasswordHasher } from '../passwords/hasher.js';
import type { SignInGuard } from '../protection/sign-in-guard.js';
import { checkTotp } from '../mfa/totp.js';
import { spendRecoveryCode } from '../mfa/recovery-codes.js';
import { ProblemError } from '../kernel/problem.js';
import type { ClientInfo, Principal } from '../kernel/actor.js';

export interface Proof {
  password?: string;
  /** A code from the authenticator app, or a recovery code (spent by the check). */
  code?: string;
}

/**
 * Proof that the owner is at the keyboard before a lasting security change (step-up): deleting the account,
 * adding or removing a second factor, setting a password, linking a provider identity. The proof is the password,
 * or a current authenticator code or a recovery code; for an account without a password, also a session that
 * signed in within REAUTH_MAX_AGE (its sign-in went through the provider and any second factor).
 *
 * Every password or code checked here is a guess an attacker holding a stolen session could repeat, so it is
 * counted exactly like a sign-in (SignInGuard): reserved before the check, so that parallel guesses cannot slip
 * past the account lockout or the IP block, and refused with `429 too-many-failed-attempts` once either is hit.
 */
export class Reauthentication {
  constructor(
    private readonly clock: Clock,
    private readonly hasher: PasswordHasher,
    private readonly guard: SignInGuard,
    private readonly options: { maxAgeSeconds: number },
  ) {}

  /** Loads the caller with the secrets the checks need. */
  async loadUser(em: EntityManager, principal: Principal): Promise<User> {
    const user = await em.findOne(UserSchema, { id: principal.userId, deletedAt: null }, { populate: ['passwordHash', 'totpSecret'] });
    if (!user) throw new ProblemError('invalid-access-token', { detail: 'The account no longer exists.' });
    return user;
  }

  async confirm(em: EntityManager, user: User, principal: Principal, proof: Proof, client: ClientInfo): Promise<void> {
    if (proof.password === undefined && proof.code === undefined) {
      if (!user.passwordHash) {
        const session = await em.findOneOrFail(SessionSchema, { id: principal.sessionId });
        if (this.clock.now().getTime() - session.createdAt.getTime() <= this.options.maxAgeSeconds * 1000) return;
        throw refused(`Sign in again (within the last ${Math.round(this.options.maxAgeSeconds / 60)} minutes), or send a code, to confirm.`);
      }
      throw refused('Send the password (or a code) to confirm.', '/body/password');
    }

    const reservation = await this.guard.reserve(user.email, client.ip ?? 'unknown');
    let matches: boolean;
    try {
      matches = await this.check(em, user, proof);
    } catch (error) {
      // Nothing was checked (the hashing queue is full, the database is away): not a failed attempt.
      await this.guard.release(reservation);
      throw error;
    }
    if (matches) {
      await this.guard.succeeded(reservation);
      if (proof.password !== undefined) await this.upgradeHash(em, user, proof.password);
      return;
    }
    await this.guard.failed(em, reservation);
    throw proof.password !== undefined ? refused('The password is not correct.', '/body/password') : refused('The code is not correct.', '/body/code');
  }

  private async check(em: EntityManager, user: User, proof: Proof): Promise<boolean> {
    if (proof.password !== undefined) return Boolean(user.passwordHash) && (await this.hasher.verify(proof.password, user.passwordHash!));
    const code = proof.code!;
    if (!user.totpEnabledAt) return false;
    return (await this.useTotpCode(em, user, code)) || (await spendRecoveryCode(em, user.id, code, this.clock.now()));
  }

  /**
   * After the password matched: a hash of an earlier scheme or cost, or one imported from another system, is replaced
   * by one made now, as at sign-in. Only if the stored hash is still the one checked (a concurrent change wins), and
   * not when the hashing queue is full (next time, then).
   */
  private async upgradeHash(em: EntityManager, user: User, password: string): Promise<void> {
    const checked = user.passwordHash;
    if (!checked || !this.hasher.needsRehash(checked)) return;
    const rehashed = await this.hasher.hash(password).catch((error) => {
      if (error instanceof ProblemError && error.code === 'server-busy') return null;
      throw error;
    });
    if (!rehashed) return;
    await em.nativeUpdate(UserSchema, { id: user.id, passwordHash: checked }, { passwordHash: rehashed });
  }

  /** A valid TOTP code, not used before: its step is recorded atomically, so a code works once. */
  async useTotpCode(em: EntityManager, user: User, code: string): Promise<boolean> {
    if (!user.totpSecret) return false;
    const step = await checkTotp(user.totpSecret, code, this.clock.now(), user.totpLastStep);
    if (step === null) return false;
    const claimed = await em.nativeUpdate(
      UserSchema,
      { id: user.id, $or: [{ totpLastStep: null }, { totpLastStep: { $lt: step } }] },
      { totpLastStep: step },
    );
    return claimed === 1;
  }
}

const refused = (detail: string, pointer?: string) =>
  new ProblemError('reauthentication-required', { detail, ...(pointer ? { errors: [{ pointer, detail }] } : {}) });
