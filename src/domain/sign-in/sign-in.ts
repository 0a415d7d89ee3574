import type { EntityManager } from '@mikro-orm/core';
import { UserSchema, type LoginMethod, type MfaChallenge, type User } from '../../db/entities.js';
import type { PasswordHasher } from '../passwords/hasher.js';
import type { ClientInfo } from '../kernel/actor.js';
import { ProblemError } from '../kernel/problem.js';
import { normaliseEmail } from '../users/views.js';
import { SignInLocked, type SignInGuard } from '../protection/sign-in-guard.js';
import { mfaMethodsOf, type Mfa, type MfaMethod } from '../mfa/mfa.js';
import type { LoginAttempts } from '../sessions/login-attempts.js';
import type { IssuedSession, Sessions } from '../sessions/sessions.js';
import { PasskeySignInRefused, type Passkeys } from '../passkeys/passkeys.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';

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
 * The first factor of a sign-in (a password, a mailed link or code): checks it for the account with the email (null
 * when the email has none). A failure says why (for the attempt record) and which problem answers it; a thrown error
 * means nothing was checked. `afterSuccess` runs once the factor held and the account may sign in.
 */
export interface FirstFactor {
  method: LoginMethod;
  check(em: EntityManager, user: User | null): Promise<{ ok: true } | { ok: false; reason: string; problem: ProblemError }>;
  afterSuccess?(em: EntityManager, user: User): Promise<void>;
}

/**
 * The first step of every sign-in by email address (login, finishEmailSignIn). The attempt is counted before the
 * factor is checked (see SignInGuard), failures count toward the lockout, and every attempt is recorded. With a
 * second factor on, the answer is a challenge instead of a session.
 */
export async function signInWithFirstFactor(
  em: EntityManager,
  deps: SignInDeps,
  input: { email: string; client: ClientInfo; delivery: Delivery },
  factor: FirstFactor,
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

  let user;
  let checked;
  try {
    user = await em.findOne(UserSchema, { email, deletedAt: null }, { populate: ['passwordHash'] });
    checked = await factor.check(em, user);
  } catch (error) {
    // Nothing was checked (the hashing queue is full, the database went away): the attempt is not a failure. Kept,
    // its points would lock the owner out after a few sign-ins that met an outage. (With the counters in the lost
    // database, giving them back fails too; then they expire with the lock window.)
    await deps.guard.release(reservation).catch(() => undefined);
    throw error;
  }
  if (!user || !checked.ok) {
    await deps.guard.failed(em, reservation);
    const reason = checked.ok ? 'unknown-email' : checked.reason;
    await deps.attempts.record(em, { email, user, client: input.client, outcome: 'failure', reason });
    throw checked.ok ? new ProblemError('invalid-credentials') : checked.problem;
  }
  const methods = mfaMethodsOf(user);
  // With a second factor still to come, the first alone does not wipe earlier failures: wrong codes count too.
  await (methods.length > 0 ? deps.guard.release(reservation) : deps.guard.succeeded(reservation));
  if (user.lockedAt || !user.emailVerified) {
    // Only someone who holds the first factor learns this.
    await deps.attempts.record(em, { email, user, client: input.client, outcome: 'failure', reason: 'account-disabled' });
    throw new ProblemError('account-disabled', { detail: 'An administrator has disabled this account.' });
  }
  await factor.afterSuccess?.(em, user);

  if (methods.length > 0) {
    const challenge = await deps.mfa.startChallenge(em, user, input.client, input.delivery);
    await deps.attempts.record(em, { email, user, client: input.client, outcome: 'mfa-required', method: factor.method });
    return { kind: 'mfa', challenge, methods };
  }
  return { kind: 'session', issued: await completeSignIn(em, deps, user, input.client, factor.method) };
}

/**
 * The password step of signing in. An unknown email still costs one bcrypt comparison against a decoy hash, so its
 * answer and timing match a wrong password's.
 */
export async function signInWithPassword(
  em: EntityManager,
  deps: SignInDeps,
  input: { email: string; password: string; client: ClientInfo; delivery: Delivery },
): Promise<SignInOutcome> {
  return signInWithFirstFactor(em, deps, input, {
    method: 'password',
    async check(_em, user) {
      const matches = await deps.hasher.verify(input.password, user?.passwordHash ?? '');
      if (user && user.passwordHash && matches) return { ok: true };
      const reason = !user ? 'unknown-email' : user.passwordHash ? 'wrong-password' : 'no-password';
      return { ok: false, reason, problem: new ProblemError('invalid-credentials') };
    },
    async afterSuccess(tx, user) {
      if (!deps.hasher.needsRehash(user.passwordHash!)) return;
      // BCRYPT_COST changed since this hash was made, or it predates the HMAC pre-hash: store one made now.
      const rehashed = await deps.hasher.hash(input.password).catch((error) => {
        if (error instanceof ProblemError && error.code === 'server-busy') return null; // next time
        throw error;
      });
      if (rehashed) {
        user.passwordHash = rehashed;
        await tx.flush();
      }
    },
  });
}

/**
 * The second-factor step of signing in. Each code is counted against the account and the client IP (SignInGuard)
 * as a password would be, before it is checked, and against the challenge's own cap (Mfa.tryCode). Failures come
 * back (not thrown) with the user they concern, for the caller's audit event; every attempt is recorded.
 */
export async function signInWithSecondFactor(
  em: EntityManager,
  deps: SignInDeps,
  input: { challengeId: string; code: string; method?: MfaMethod; client: ClientInfo },
): Promise<
  | { ok: true; issued: IssuedSession; challenge: MfaChallenge; method: MfaMethod }
  | { ok: false; user: User | null; problem: ProblemError }
> {
  const failure = async (user: User | null, problem: ProblemError, outcome: 'failure' | 'locked' = 'failure') => {
    const reason = outcome === 'locked' && problem instanceof SignInLocked ? `${problem.scope}-locked` : 'mfa-code';
    await deps.attempts.record(em, { email: user?.email ?? '', user, client: input.client, outcome, reason });
    return { ok: false as const, user, problem };
  };
  const opened = await deps.mfa.openChallenge(em, input.challengeId);
  if (!opened) {
    return failure(null, new ProblemError('mfa-challenge-invalid', { detail: 'The challenge is unknown, used, expired or locked. Sign in again.' }));
  }
  let reservation;
  try {
    reservation = await deps.guard.reserve(opened.user.email, input.client.ip ?? 'unknown');
  } catch (error) {
    if (error instanceof SignInLocked) return failure(opened.user, error, 'locked');
    throw error;
  }
  const tried = await deps.mfa.tryCode(em, opened, input);
  if (!tried.ok) {
    await (tried.checked ? deps.guard.failed(em, reservation) : deps.guard.release(reservation));
    return failure(opened.user, tried.problem);
  }
  await deps.guard.succeeded(reservation);
  const issued = await completeSignIn(em, deps, opened.user, input.client, tried.method);
  return { ok: true, issued, challenge: opened.challenge, method: tried.method };
}

export interface PasskeySignInDeps extends Pick<SignInDeps, 'sessions' | 'guard' | 'attempts'> {
  passkeys: Passkeys;
  audit: Pick<AuditLog, 'record'>;
}

/**
 * A sign-in with a passkey: the same path as a password's. The attempt is counted (SignInGuard) against the account
 * the credential belongs to, and the client IP, before anything is checked; every attempt is recorded; a success
 * wipes the client's failures and opens the session through completeSignIn (login history, new-device mail). No
 * second factor is asked: user verification is required, which makes the passkey multi-factor already. An unknown
 * credential counts against the client IP (and a key of its own), so that guessing credentials meets the IP block.
 * Every refusal is the same `passkey-sign-in-failed` for the client; its reason goes to the attempt record.
 */
export async function signInWithPasskey(
  em: EntityManager,
  deps: PasskeySignInDeps,
  input: { challengeId: string; credential: AuthenticationResponseJSON; client: ClientInfo },
): Promise<{ issued: IssuedSession } | { refused: ProblemError; user: User | null }> {
  const found = await deps.passkeys.findForSignIn(em, input.credential.id);
  const user = found?.user ?? null;
  const key = user?.email ?? `passkey:${input.credential.id.slice(0, 64)}`;
  const refuse = async (problem: ProblemError, outcome: 'failure' | 'locked', reason: string) => {
    await deps.attempts.record(em, { email: user?.email ?? '', user, client: input.client, outcome, reason, method: 'passkey' });
    return { refused: problem, user };
  };
  let reservation;
  try {
    reservation = await deps.guard.reserve(key, input.client.ip ?? 'unknown');
  } catch (error) {
    if (error instanceof SignInLocked) return refuse(error, 'locked', `${error.scope}-locked`);
    throw error;
  }
  if (!found) {
    await deps.guard.failed(em, reservation);
    return refuse(new PasskeySignInRefused('unknown-passkey', null), 'failure', 'unknown-passkey');
  }
  try {
    await deps.passkeys.verifySignIn(em, found, input);
  } catch (error) {
    if (!(error instanceof PasskeySignInRefused)) {
      await deps.guard.release(reservation).catch(() => undefined); // nothing was decided (the database went away)
      throw error;
    }
    await deps.guard.failed(em, reservation);
    if (error.reason === 'passkey-counter') {
      // A signature from the right key with a counter that went back: two authenticators hold this key.
      await deps.audit.record({
        action: 'passkey.counter-rewound',
        outcome: 'failure',
        actorUserId: null,
        targetUserId: found.user.id,
        ip: input.client.ip,
        userAgent: input.client.userAgent,
        details: { passkeyId: found.passkey.id, storedCounter: found.passkey.counter },
      });
    }
    return refuse(error, 'failure', error.reason);
  }
  await deps.guard.succeeded(reservation);
  if (found.user.lockedAt || !found.user.emailVerified) {
    return refuse(new ProblemError('account-disabled', { detail: 'An administrator has disabled this account.' }), 'failure', 'account-disabled');
  }
  return { issued: await completeSignIn(em, deps, found.user, input.client, 'passkey') };
}

/** Starts the session of a sign-in that has passed every factor, and records it. */
export async function completeSignIn(
  em: EntityManager,
  deps: Pick<SignInDeps, 'sessions' | 'attempts'>,
  user: User,
  client: ClientInfo,
  method: LoginMethod,
): Promise<IssuedSession> {
  const issued = await deps.sessions.start(em, user, client, method);
  await deps.attempts.recordSuccess(em, user, client, method);
  return issued;
}

/** The account a sign-in named (for the audit event of a failed one): its normalised email, and its id if it exists. */
export async function accountAimedAt(em: EntityManager, email: string): Promise<{ email: string; userId: string | null }> {
  const normalised = normaliseEmail(email);
  const user = await em.findOne(UserSchema, { email: normalised }, { fields: ['id'] });
  return { email: normalised, userId: user?.id ?? null };
}
