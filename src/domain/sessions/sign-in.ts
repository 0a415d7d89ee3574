import type { EntityManager } from '@mikro-orm/core';
import { UserSchema, type LoginMethod, type MfaChallenge, type User } from '../../db/entities.js';
import type { PasswordHasher } from '../passwords/hasher.js';
import type { ClientInfo } from '../../http/context.js';
import { ProblemError } from '../../http/problem.js';
import { normaliseEmail } from '../users/views.js';
import { SignInLocked, type SignInGuard } from '../protection/sign-in-guard.js';
import { mfaMethodsOf, type Mfa, type MfaMethod } from '../mfa/mfa.js';
import type { LoginAttempts } from './login-attempts.js';
import type { IssuedSession, Sessions } from './sessions.js';

export type Delivery = 'cookie' | 'body';

export type SignInOutcome =
  | { kind: 'session'; issued: IssuedSession }
  | { kind: 'mfa'; challenge: MfaChallenge; methods: MfaMethod[] };

export interface SignInDeps {
  hasher: PasswordHasher;
  sessions: Sessions;
  guard: SignInGuard;
  attempts: LoginAttempts;
  mfa: Mfa;
}

/**
 * The password step of signing in. The attempt is counted before the password is checked (see SignInGuard); an
 * unknown email still costs one bcrypt comparison against a decoy hash, so its answer and timing match a wrong
 * password's. Every attempt is recorded. With a second factor on, the answer is a challenge instead of a session.
 */
export async function signInWithPassword(
  em: EntityManager,
  deps: SignInDeps,
  input: { email: string; password: string; client: ClientInfo; delivery: Delivery },
): Promise<SignInOutcome> {
  const email = normaliseEmail(input.email);
  let reservation;
  try {
    reservation = await deps.guard.reserve(email, input.client.ip ?? 'unknown');
  } catch (error) {
    if (error instanceof SignInLocked) {
      await deps.attempts.record(em, { email, user: null, client: input.client, outcome: 'locked', reason: `${error.scope}-locked` });
    }
    throw error;
  }

  const user = await em.findOne(UserSchema, { email, deletedAt: null }, { populate: ['passwordHash'] });
  const matches = await deps.hasher.verify(input.password, user?.passwordHash ?? '');
  if (!user || !user.passwordHash || !matches) {
    await deps.guard.failed(em, reservation);
    const reason = !user ? 'unknown-email' : user.passwordHash ? 'wrong-password' : 'no-password';
    await deps.attempts.record(em, { email, user, client: input.client, outcome: 'failure', reason });
    throw new ProblemError('invalid-credentials');
  }
  await deps.guard.succeeded(reservation);
  if (user.lockedAt || !user.emailVerified) {
    // Only someone who knows the password learns this.
    await deps.attempts.record(em, { email, user, client: input.client, outcome: 'failure', reason: 'account-disabled' });
    throw new ProblemError('account-disabled', { detail: 'An administrator has disabled this account.' });
  }
  if (deps.hasher.needsRehash(user.passwordHash)) {
    // BCRYPT_COST changed since this hash was made: store one at the current cost.
    user.passwordHash = await deps.hasher.hash(input.password);
    await em.flush();
  }

  const methods = mfaMethodsOf(user);
  if (methods.length > 0) {
    const challenge = await deps.mfa.startChallenge(em, user, input.client, input.delivery);
    await deps.attempts.record(em, { email, user, client: input.client, outcome: 'mfa-required', method: 'password' });
    return { kind: 'mfa', challenge, methods };
  }
  return { kind: 'session', issued: await completeSignIn(em, deps, user, input.client, 'password') };
}

/** Starts the session of a sign-in that has passed every factor, and records it. */
export async function completeSignIn(
  em: EntityManager,
  deps: Pick<SignInDeps, 'sessions' | 'attempts'>,
  user: User,
  client: ClientInfo,
  method: LoginMethod,
): Promise<IssuedSession> {
  const issued = await deps.sessions.start(em, user, client);
  await deps.attempts.recordSuccess(em, user, client, method);
  return issued;
}
