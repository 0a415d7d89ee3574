import { userData, webhookEvents } from '../webhooks/events.js';
import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/core';
import { PendingRegistrationSchema, UserSchema, type User } from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import { hashToken, randomSecret } from '../tokens/secrets.js';
import { assertStrongPassword } from '../passwords/policy.js';
import type { PasswordHasher } from '../passwords/hasher.js';
import type { Mailbox } from '../kernel/notifications.js';
import type { TransactionLocks } from '../kernel/transaction-locks.js';
import { normaliseEmail } from '../users/views.js';
import { createUser } from '../users/new-user.js';
import { ProblemError } from '../kernel/problem.js';

export interface RegistrationOptions {
  appUrl: string;
  verificationTtlSeconds: number;
  adminEmails: ReadonlySet<string>;
}

const invalidToken = () =>
  new ProblemError('invalid-verification-token', {
    detail: 'The link is unknown, was already used, was superseded by a newer one, or has expired.',
  });

/**
 * Sign-up in two tables: attempts wait in pending_registrations (email not unique) until a link proves the address;
 * only then does a row appear in users (email unique). Both branches of `register` do the same work (a bcrypt
 * hash, one transaction, one queued mail), so neither the answer nor its timing tells whether the email has an
 * account.
 */
export class Registration {
  constructor(
    private readonly clock: Clock,
    private readonly hasher: PasswordHasher,
    private readonly mailbox: Mailbox,
    private readonly locks: TransactionLocks,
    private readonly options: RegistrationOptions,
  ) {}

  async register(em: EntityManager, input: { email: string; password: string; name?: string }): Promise<void> {
    assertStrongPassword(input.password);
    const email = normaliseEmail(input.email);
    const passwordHash = await this.hasher.hash(input.password);
    await em.transactional(async (tx) => {
      // Registrations of one email take turns (SQLite has one writer anyway): otherwise concurrent ones each delete
      // the rows they can see and insert their own, and several links stay live.
      await this.locks.lock(tx, `pulse-auth:register:${email}`);
      const now = this.clock.now();
      const existing = await tx.findOne(UserSchema, { email }, { fields: ['id'] });
      if (existing) {
        this.mailbox.queue(tx, now, email, { kind: 'already-registered', appUrl: this.options.appUrl });
        return;
      }
      // The newest attempt wins: earlier links for this email stop working.
      await tx.nativeDelete(PendingRegistrationSchema, { email });
      const token = randomSecret();
      tx.create(PendingRegistrationSchema, {
        id: randomUUID(),
        email,
        name: input.name ?? null,
        passwordHash,
        tokenHash: hashToken(token),
        createdAt: now,
        expiresAt: addSeconds(now, this.options.verificationTtlSeconds),
      });
      this.mailbox.queue(tx, now, email, { kind: 'verification', link: this.link(token), ttlSeconds: this.options.verificationTtlSeconds });
    });
  }

  /** Mails a fresh link for the newest live registration of this email, if there is one. */
  async resend(em: EntityManager, rawEmail: string): Promise<void> {
    const email = normaliseEmail(rawEmail);
    await em.transactional(async (tx) => {
      const now = this.clock.now();
      const [newest] = await tx.find(
        PendingRegistrationSchema,
        { email, expiresAt: { $gt: now } },
        { orderBy: { createdAt: 'desc' }, limit: 1 },
      );
      if (!newest) return;
      const token = randomSecret();
      newest.tokenHash = hashToken(token);
      newest.expiresAt = addSeconds(now, this.options.verificationTtlSeconds);
      this.mailbox.queue(tx, now, email, { kind: 'verification', link: this.link(token), ttlSeconds: this.options.verificationTtlSeconds });
    });
  }

  /**
   * Turns the registration behind a token into a user, in one transaction: the pending row is claimed with a
   * conditional delete (of many concurrent uses, exactly one deletes it), every other pending row of the email
   * goes, and the user is inserted under the unique email.
   *
   * The link proves control of the mailbox, and the password proves that the same person chose it: without that
   * second check, whoever registered someone else's address with a password of their own would own the account
   * as soon as the owner (or a mail scanner) opened the link (pre-account hijacking). The token is looked up first,
   * so a garbage token costs no bcrypt comparison; a wrong password leaves the link usable.
   */
  async verify(em: EntityManager, token: string, password: string): Promise<User> {
    const found = await em.fork().findOne(PendingRegistrationSchema, { tokenHash: hashToken(token), expiresAt: { $gt: this.clock.now() } });
    if (!found) throw invalidToken();
    if (!(await this.hasher.verify(password, found.passwordHash))) {
      throw new ProblemError('registration-password-mismatch', {
        detail: 'Enter the password you chose when you signed up. If you did not sign up, ignore the mail.',
        errors: [{ pointer: '/body/password', detail: 'not the password of this registration' }],
      });
    }
    try {
      return await em.transactional(async (tx) => {
        const now = this.clock.now();
        const pending = await tx.findOne(PendingRegistrationSchema, { id: found.id });
        if (!pending || pending.expiresAt <= now) throw invalidToken();
        const claimed = await tx.nativeDelete(PendingRegistrationSchema, { id: pending.id, expiresAt: { $gt: now } });
        if (claimed !== 1) throw invalidToken();
        await tx.nativeDelete(PendingRegistrationSchema, { email: pending.email });
        const user = createUser(tx, {
          email: pending.email,
          name: pending.name,
          passwordHash: pending.passwordHash,
          role: this.options.adminEmails.has(pending.email) ? 'admin' : 'user',
          now,
        });
        await webhookEvents.emit(tx, now, 'user.created', userData(user));
        await tx.flush();
        return user;
      });
    } catch (error) {
      // A concurrent verification of the same email got there first.
      if (error instanceof UniqueConstraintViolationException) throw invalidToken();
      throw error;
    }
  }

  private link(token: string): string {
    return `${this.options.appUrl}/verify-email?token=${encodeURIComponent(token)}`;
  }
}
