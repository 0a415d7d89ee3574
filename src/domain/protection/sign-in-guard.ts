import { randomUUID } from 'node:crypto';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { BlockedIpSchema, UserSchema } from '../../db/entities.js';
import { addSeconds, type Clock } from '../clock.js';
import { ProblemError } from '../../http/problem.js';
import { enqueueMail } from '../../mail/outbox.js';
import { accountLockedMail } from '../../mail/templates.js';
import type { Counters } from './counters.js';
import { clientKey } from './client-key.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Metrics } from '../../observability/metrics.js';

export interface LockoutOptions {
  accountThreshold: number;
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

/**
 * Account lockout and IP blocking for password checks.
 *
 * Each attempt is counted before its password is checked (`reserve`), so that parallel guesses cannot all read a
 * count under the threshold: of 30 parallel wrong passwords, at most the threshold are checked. A success resets
 * the email's count and gives the IP its point back; the failure that reaches a threshold starts the lock, mails
 * the owner (account) or records the block (IP). Keys are emails, not users, so an unknown email locks exactly like
 * a known one. A success does not clear the IP's count: an attacker cannot reset it by signing in to an account of
 * their own between guesses.
 */
export class SignInGuard {
  private readonly accountFailures: RateLimiterAbstract;
  private readonly ipFailures: RateLimiterAbstract;

  constructor(
    counters: Counters,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly audit: AuditLog,
    private readonly metrics: Metrics,
    private readonly options: LockoutOptions,
  ) {
    this.accountFailures = counters.create({ name: 'fail:account', points: options.accountThreshold, durationSeconds: options.accountSeconds });
    this.ipFailures = counters.create({ name: 'fail:ip', points: options.ipThreshold, durationSeconds: options.ipSeconds });
  }

  async reserve(email: string, clientIp: string): Promise<Reservation> {
    const ip = clientKey(clientIp, this.options.ipv6Prefix);
    let ipFailures: number;
    try {
      ipFailures = (await this.ipFailures.consume(ip)).consumedPoints;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) throw new SignInLocked('ip', retryAfter(rejection));
      throw rejection;
    }
    try {
      const accountFailures = (await this.accountFailures.consume(email)).consumedPoints;
      return { email, ip, accountFailures, ipFailures };
    } catch (rejection) {
      // No password is checked, so the IP's point goes back.
      await this.ipFailures.reward(ip, 1);
      if (rejection instanceof RateLimiterRes) throw new SignInLocked('account', retryAfter(rejection));
      throw rejection;
    }
  }

  async succeeded(reservation: Reservation): Promise<void> {
    await Promise.all([this.accountFailures.delete(reservation.email), this.ipFailures.reward(reservation.ip, 1)]);
  }

  /**
   * Gives the attempt's points back and leaves earlier failures counted: nothing was checked (a spent MFA
   * challenge), or the password was right but a second factor is still to come, so that wrong codes add up across
   * sign-ins until one completes.
   */
  async release(reservation: Reservation): Promise<void> {
    await Promise.all([this.accountFailures.reward(reservation.email, 1), this.ipFailures.reward(reservation.ip, 1)]);
  }

  /** Records a failed check; the failure that reaches a threshold starts the lock. */
  async failed(em: EntityManager, reservation: Reservation): Promise<void> {
    if (reservation.accountFailures === this.options.accountThreshold) {
      await this.accountFailures.block(reservation.email, this.options.accountSeconds);
      this.metrics.lockouts.inc({ scope: 'account' });
      const owner = await this.mailOwner(em, reservation.email);
      await this.audit.record({
        action: 'user.locked-out',
        outcome: 'failure',
        targetUserId: owner?.id ?? null,
        ip: reservation.ip,
        details: { email: reservation.email, failures: reservation.accountFailures, seconds: this.options.accountSeconds },
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

  private async mailOwner(em: EntityManager, email: string) {
    const owner = await em.findOne(UserSchema, { email, deletedAt: null }, { fields: ['id', 'email'] });
    if (!owner) return null;
    const now = this.clock.now();
    enqueueMail(em, now, owner.email, accountLockedMail({ minutes: Math.round(this.options.accountSeconds / 60), appUrl: this.options.appUrl }));
    await em.flush();
    return owner;
  }
}
