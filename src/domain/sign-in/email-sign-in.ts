import { randomInt, randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import type { Logger } from 'pino';
import { EmailSignInRequestSchema, UserSchema } from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import type { Mailbox } from '../kernel/notifications.js';
import type { ClientInfo } from '../kernel/actor.js';
import { ProblemError } from '../kernel/problem.js';
import { constantTimeEqual, hashToken, hmac, randomSecret } from '../tokens/secrets.js';
import { normaliseEmail } from '../users/views.js';
import { signInWithFirstFactor, type Delivery, type FirstFactor, type SignInDeps, type SignInOutcome } from './sign-in.js';

export interface EmailSignInOptions {
  appUrl: string;
  ttlSeconds: number;
  /** Wrong codes after which a request is dead. */
  maxAttempts: number;
}

const codeHash = (requestId: string, code: string) => hmac(requestId, code);

const invalid = (detail = 'The link or code is unknown, was already used, was replaced by a newer one, or has expired. Ask for a new one.') =>
  new ProblemError('invalid-email-sign-in', { detail });

/**
 * Passwordless sign-in by email (PRODUCT.md §5.4): a mailed link and 6-digit code, stored as hashes, single-use,
 * one live request per account. Either is a first factor that goes through the one sign-in path
 * (signInWithFirstFactor): counted by the guard, recorded, and followed by the MFA challenge when the account has one.
 */
export class EmailSignIns {
  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly mailbox: Mailbox,
    private readonly options: EmailSignInOptions,
  ) {}

  /**
   * Starts a sign-in for the email, if it has an account, after the caller has answered, as Passwords.requestReset
   * does: the answer is the same, in body and timing, for known and unknown emails.
   */
  request(email: string, afterWork: () => void): void {
    this.createRequest(normaliseEmail(email))
      .then((queued) => queued && afterWork())
      .catch((error) => this.logger.error({ err: error }, 'email sign-in request failed'));
  }

  /** Returns whether a mail was queued. The account's earlier requests stop working. */
  async createRequest(email: string): Promise<boolean> {
    return this.orm.em.fork().transactional(async (tx) => {
      const now = this.clock.now();
      const user = await tx.findOne(UserSchema, { email, deletedAt: null }, { fields: ['id', 'email'] });
      if (!user) return false;
      await tx.nativeDelete(EmailSignInRequestSchema, { userId: user.id });
      const id = randomUUID();
      const token = randomSecret();
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      tx.create(EmailSignInRequestSchema, {
        id,
        userId: user.id,
        tokenHash: hashToken(token),
        codeHash: codeHash(id, code),
        attempts: 0,
        createdAt: now,
        expiresAt: addSeconds(now, this.options.ttlSeconds),
        consumedAt: null,
      });
      const link = `${this.options.appUrl}/sign-in?token=${encodeURIComponent(token)}`;
      this.mailbox.queue(tx, now, user.email, { kind: 'email-sign-in', link, code, ttlSeconds: this.options.ttlSeconds });
      return true;
    });
  }

  /** Signs in with the token of the mailed link. */
  async signInWithLink(
    em: EntityManager,
    deps: SignInDeps,
    input: { token: string; client: ClientInfo; delivery: Delivery },
  ): Promise<SignInOutcome> {
    const tokenHash = hashToken(input.token);
    const request = await em.findOne(EmailSignInRequestSchema, { tokenHash }, { fields: ['id', 'userId'] });
    const user = request ? await em.findOne(UserSchema, { id: request.userId, deletedAt: null }, { fields: ['id', 'email'] }) : null;
    if (!request || !user) {
      // A 256-bit token cannot be guessed, so there is no account to count this against; it is still recorded.
      await deps.attempts.record(em, { email: '', user: null, client: input.client, outcome: 'failure', reason: 'unknown-sign-in-link' });
      throw invalid();
    }
    const factor: FirstFactor = {
      method: 'email',
      check: async (tx, account) => {
        if (!account || account.id !== request.userId) return { ok: false, reason: 'unknown-sign-in-link', problem: invalid() };
        // Spent by a conditional update, so that of several uses at once exactly one wins.
        const now = this.clock.now();
        const spent = await tx.nativeUpdate(
          EmailSignInRequestSchema,
          { id: request.id, consumedAt: null, expiresAt: { $gt: now }, attempts: { $lt: this.options.maxAttempts } },
          { consumedAt: now },
        );
        return spent === 1 ? { ok: true } : { ok: false, reason: 'spent-sign-in-link', problem: invalid() };
      },
    };
    return signInWithFirstFactor(em, deps, { email: user.email, client: input.client, delivery: input.delivery }, factor);
  }

  /**
   * Signs in with the email and the mailed code. Each code is counted against the request (atomically, in the
   * database) before it is compared, so that of any number sent at once at most `maxAttempts` are checked; the
   * right one spends the request. Wrong codes also count toward the lockout, as wrong passwords do.
   */
  async signInWithCode(
    em: EntityManager,
    deps: SignInDeps,
    input: { email: string; code: string; client: ClientInfo; delivery: Delivery },
  ): Promise<SignInOutcome> {
    const factor: FirstFactor = {
      method: 'email',
      check: async (tx, user) => {
        if (!user) return { ok: false, reason: 'unknown-email', problem: invalid() };
        const now = this.clock.now();
        const counted: { id: string; code_hash: string; attempts: number } | undefined = await (tx as SqlEntityManager).execute<{ id: string; code_hash: string; attempts: number }>(
          'update email_sign_in_requests set attempts = attempts + 1 where user_id = ? and consumed_at is null and expires_at > ? and attempts < ? returning id, code_hash, attempts',
          [user.id, now, this.options.maxAttempts],
          'get',
        );
        if (!counted) return { ok: false, reason: 'no-sign-in-request', problem: invalid() };
        if (!constantTimeEqual(codeHash(counted.id, input.code), counted.code_hash)) {
          const left = this.options.maxAttempts - Number(counted.attempts);
          if (left <= 0) return { ok: false, reason: 'sign-in-code', problem: invalid('The code is not valid, and that was the last try. Ask for a new one.') };
          return { ok: false, reason: 'sign-in-code', problem: invalid(`The code is not valid. ${left} ${left === 1 ? 'try' : 'tries'} left.`) };
        }
        const claimed = await tx.nativeUpdate(EmailSignInRequestSchema, { id: counted.id, consumedAt: null }, { consumedAt: now });
        return claimed === 1 ? { ok: true } : { ok: false, reason: 'spent-sign-in-link', problem: invalid() };
      },
    };
    return signInWithFirstFactor(em, deps, input, factor);
  }
}
