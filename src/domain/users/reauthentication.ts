import type { EntityManager } from '@mikro-orm/core';
import { SessionSchema, UserSchema, type User } from '../../db/entities.js';
import type { Clock } from '../clock.js';
import type { PasswordHasher } from '../passwords/hasher.js';
import { checkTotp } from '../mfa/totp.js';
import { spendRecoveryCode } from '../mfa/recovery-codes.js';
import { ProblemError } from '../../http/problem.js';
import type { Principal } from '../../http/context.js';

export interface Proof {
  password?: string;
  /** A code from the authenticator app, or a recovery code (spent by the check). */
  code?: string;
}

/**
 * Proof that the owner is at the keyboard before a sensitive change (deleting the account, turning a second
 * factor off): the password; or a current authenticator code or a recovery code; or, for an account without a
 * password, a session that signed in within REAUTH_MAX_AGE.
 */
export class Reauthentication {
  constructor(
    private readonly clock: Clock,
    private readonly hasher: PasswordHasher,
    private readonly options: { maxAgeSeconds: number },
  ) {}

  /** Loads the caller with the secrets the checks need. */
  async loadUser(em: EntityManager, principal: Principal): Promise<User> {
    const user = await em.findOne(UserSchema, { id: principal.userId, deletedAt: null }, { populate: ['passwordHash', 'totpSecret'] });
    if (!user) throw new ProblemError('invalid-access-token', { detail: 'The account no longer exists.' });
    return user;
  }

  async confirm(em: EntityManager, user: User, principal: Principal, proof: Proof): Promise<void> {
    if (proof.password !== undefined) {
      if (user.passwordHash && (await this.hasher.verify(proof.password, user.passwordHash))) return;
      throw refused('The password is not correct.', '/body/password');
    }
    if (proof.code !== undefined) {
      if (user.totpEnabledAt && (await this.useTotpCode(em, user, proof.code))) return;
      if (user.totpEnabledAt && (await spendRecoveryCode(em, user.id, proof.code, this.clock.now()))) return;
      throw refused('The code is not correct.', '/body/code');
    }
    if (!user.passwordHash) {
      const session = await em.findOneOrFail(SessionSchema, { id: principal.sessionId });
      if (this.clock.now().getTime() - session.createdAt.getTime() <= this.options.maxAgeSeconds * 1000) return;
      throw refused(`Sign in again (within the last ${Math.round(this.options.maxAgeSeconds / 60)} minutes) to confirm.`);
    }
    throw refused('Send the password (or a code) to confirm.', '/body/password');
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
