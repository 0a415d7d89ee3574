import { randomUUID } from 'node:crypto';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { BlockedIpSchema, UserSchema } from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import { ProblemError } from '../kernel/problem.js';
import type { Mailbox } from '../kernel/notifications.js';
import type { CounterFactory } from './counters.js';
import { clientKey } from './client-key.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Metrics } from '../../observability/metrics.js';
import { userData, webhookEvents } from '../webhooks/events.js';

export interface LockoutOptions {
  /** Failures of one email from one client (IP, or IPv6 network) that lock that client out of that email. */
  accountThreshold: number;
  /** Failures of one email from all clients together that lock the email for everyone. */
  accountGlobalThreshold: number;
  accountSeconds: number;
  ipThreshold: number;
  ipSeconds: number;
  /** IPv6 clients are counted (and blocked) by their network of this prefix length. */
  ipv6Prefix: number;
  appUrl: string;
}

/** The counted attempt a password check runs under. */
export interface Reservation {
  email: string;
  /** The client's key (clientKey): its IPv4 address, or its IPv6 network. */
  ip: string;
  accountFailures: number;
  globalFailures: number;
  ipFailures: number;
}

export class SignInLocked extends ProblemError {
  constructor(
    readonly scope: 'account' | 'ip',
    retryAfterSeconds: number,
  ) {
    super('too-many-failed-attempts', {
      detail: `Sign-in is locked after too many failed attempts. Try again in ${retryAfterSeconds} seconds.`,
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

const retryAfter = (rejection: RateLimiterRes) => Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
const clientAccountKey = (ip: string, email: string) => `${ip}|${email}`;

/**
 * Account lockout and IP blocking for password (and second-factor) checks.
 *
 * Three counts: failures of an email from one client (LOCKOUT_ACCOUNT_THRESHOLD locks that client out of that
 * email), failures of an email from all clients (the higher LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD locks the email for
 * everyone), and failures from one client across emails (LOCKOUT_IP_THRESHOLD blocks the client). So a stranger's
 * wrong passwords lock the stranger out, not the owner signing in from elsewhere, and guesses spread over many
 * clients still meet a limit. A client is its IP, an IPv6 client its network (clientKey).
 *
 * Each attempt is counted before its password is checked (`reserve`), so that parallel guesses cannot all read a
 * count under a threshold: of 30 parallel wrong passwords, at most the threshold are checked. A success resets the
 * client's count for the email and gives the IP its point back; the failure that reaches a threshold starts the
 * lock, mails the owner (account) or records the block (IP). Keys are emails, not users, so an unknown email locks
 * exactly like a known one. A success clears neither the email's global count nor the IP's: an attacker cannot
 * reset them by signing in to an account of their own between guesses, and the owner's sign-in does not wipe the
 * count of a distributed guesser. A password reset (`accountRecovered`) clears the email's global count and the
 * resetting client's.
 */
export class SignInGuard {
  private readonly accountFailures: RateLimiterAbstract;
  private readonly globalFailures: RateLimiterAbstract;
  private readonly ipFailures: RateLimiterAbstract;

  constructor(
    counters: CounterFactory,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly audit: AuditLog,
    private readonly metrics: Metrics,
    private readonly mailbox: Mailbox,
    private readonly options: LockoutOptions,
  ) {
    this.accountFailures = counters.create({ name: 'fail:account-client', points: options.accountThreshold, durationSeconds: options.accountSeconds });
    this.globalFailures = counters.create({ name: 'fail:account', points: options.accountGlobalThreshold, durationSeconds: options.accountSeconds });
    this.ipFailures = counters.create({ name: 'fail:ip', points: options.ipThreshold, durationSeconds: options.ipSeconds });
  }

  async reserve(email: string, clientIp: string): Promise<Reservation> {
    const ip = clientKey(clientIp, this.options.ipv6Prefix);
    const taken: Array<[RateLimiterAbstract, string]> = [];
    const take = async (counter: RateLimiterAbstract, key: string, scope: 'account' | 'ip') => {
      try {
        const points = (await counter.consume(key)).consumedPoints;
        taken.push([counter, key]);
        return points;
      } catch (rejection) {
        // No password is checked, so the points already taken go back.
        await Promise.all(taken.map(([earlier, earlierKey]) => earlier.reward(earlierKey, 1)));
        if (rejection instanceof RateLimiterRes) throw new SignInLocked(scope, retryAfter(rejection));
        throw rejection;
      }
    };
    const ipFailures = await take(this.ipFailures, ip, 'ip');
    const globalFailures = await take(this.globalFailures, email, 'account');
    const accountFailures = await take(this.accountFailures, clientAccountKey(ip, email), 'account');
    return { email, ip, accountFailures, globalFailures, ipFailures };
  }

  async succeeded(reservation: Reservation): Promise<void> {
    await Promise.all([
      this.accountFailures.delete(clientAccountKey(reservation.ip, reservation.email)),
      this.globalFailures.reward(reservation.email, 1),
      this.ipFailures.reward(reservation.ip, 1),
    ]);
  }

  /**
   * Gives the attempt's points back and leaves earlier failures counted: nothing was checked (a spent MFA
   * challenge, a full hashing queue), or the password was right but a second factor is still to come, so that
   * wrong codes add up across sign-ins until one completes.
   */
  async release(reservation: Reservation): Promise<void> {
    await Promise.all([
      this.accountFailures.reward(clientAccountKey(reservation.ip, reservation.email), 1),
      this.globalFailures.reward(reservation.email, 1),
      this.ipFailures.reward(reservation.ip, 1),
    ]);
  }

  /**
   * The owner proved control of the mailbox (a password reset from this client): the email's lock for everyone
   * ends, and so does this client's. Other clients' counts for the email stay.
   */
  async accountRecovered(email: string, clientIp: string | null): Promise<void> {
    await Promise.all([
      this.globalFailures.delete(email),
      clientIp ? this.accountFailures.delete(clientAccountKey(clientKey(clientIp, this.options.ipv6Prefix), email)) : undefined,
    ]);
  }

  /** Records a failed check; the failure that reaches a threshold starts the lock. */
  async failed(em: EntityManager, reservation: Reservation): Promise<void> {
    const clientLocked = reservation.accountFailures === this.options.accountThreshold;
    const globalLocked = reservation.globalFailures === this.options.accountGlobalThreshold;
    if (clientLocked) await this.accountFailures.block(clientAccountKey(reservation.ip, reservation.email), this.options.accountSeconds);
    if (globalLocked) await this.globalFailures.block(reservation.email, this.options.accountSeconds);
    if (clientLocked || globalLocked) {
      const scope = globalLocked ? 'everyone' : 'client';
      this.metrics.lockouts.inc({ scope: 'account' });
      const owner = await this.mailOwner(em, reservation.email, scope);
      await this.audit.record({
        action: 'user.locked-out',
        outcome: 'failure',
        targetUserId: owner?.id ?? null,
        ip: reservation.ip,
        details: {
          email: reservation.email,
          scope,
          failures: globalLocked ? reservation.globalFailures : reservation.accountFailures,
          seconds: this.options.accountSeconds,
        },
      });
    }
    if (reservation.ipFailures === this.options.ipThreshold) {
      await this.ipFailures.block(reservation.ip, this.options.ipSeconds);
      this.metrics.lockouts.inc({ scope: 'ip' });
      const now = this.clock.now();
      em.create(BlockedIpSchema, {
        id: randomUUID(),
        ip: reservation.ip,
        blockedAt: now,
        expiresAt: addSeconds(now, this.options.ipSeconds),
        failures: reservation.ipFailures,
        unblockedAt: null,
      });
      await em.flush();
      this.logger.warn({ ip: reservation.ip, failures: reservation.ipFailures }, 'sign-in: IP blocked after repeated failures');
      await this.audit.record({
        action: 'ip.blocked',
        outcome: 'failure',
        ip: reservation.ip,
        details: { failures: reservation.ipFailures, seconds: this.options.ipSeconds },
      });
    }
  }

  /** Lifts an IP block early (administrators), given the address or any address of a blocked IPv6 network; false when it has no block in force. */
  async unblockIp(em: EntityManager, address: string): Promise<boolean> {
    const ip = clientKey(address, this.options.ipv6Prefix);
    const now = this.clock.now();
    const lifted = await em.nativeUpdate(BlockedIpSchema, { ip, unblockedAt: null, expiresAt: { $gt: now } }, { unblockedAt: now });
    await this.ipFailures.delete(ip);
    return lifted > 0;
  }

  private async mailOwner(em: EntityManager, email: string, scope: 'client' | 'everyone') {
    const owner = await em.findOne(UserSchema, { email, deletedAt: null });
    if (!owner) return null;
    const now = this.clock.now();
    this.mailbox.queue(em, now, owner.email, { kind: 'account-locked', minutes: Math.round(this.options.accountSeconds / 60), scope, appUrl: this.options.appUrl });
    // Locked for everyone is the account's lock; a lock of one client is that client's, not the account's.
    if (scope === 'everyone') {
      await webhookEvents.emit(em, now, 'user.locked', { ...userData(owner), reason: 'failed-sign-ins', until: addSeconds(now, this.options.accountSeconds).toISOString() });
    }
    await em.flush();
    return owner;
  }
}
