import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { Reservation, SignInGuard } from '../../src/domain/protection/sign-in-guard.js';
import { AuditEventSchema, BlockedIpSchema, OutboxMailSchema } from '../../src/db/entities.js';
import { TestDomain } from '../helpers/domain.js';
import { rejection } from '../helpers/assertions.js';

describe('sign-in guard (lockout and IP blocking)', function () {
  // Small thresholds: 3 failures of an email from one client, 5 from all clients, 6 from one client across emails.
  const ACCOUNT = 3;
  const GLOBAL = 5;
  const IP = 6;
  let domain: TestDomain;
  let guard: SignInGuard;
  let ipCounter = 0;
  const freshIp = () => `198.51.100.${++ipCounter}`;
  const freshEmail = () => `guard-${randomUUID()}@example.com`;

  before(async () => {
    domain = await TestDomain.start({
      LOCKOUT_ACCOUNT_THRESHOLD: String(ACCOUNT),
      LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD: String(GLOBAL),
      LOCKOUT_IP_THRESHOLD: String(IP),
      LOCKOUT_ACCOUNT_SECONDS: '900',
      LOCKOUT_IP_SECONDS: '3600',
    });
    guard = domain.services.guard;
  });
  after(() => domain?.close());

  /** `count` checked wrong passwords of `email` from `ip`; returns the last reservation. */
  async function fail(email: string, ip: string, count = 1): Promise<Reservation> {
    let reservation!: Reservation;
    for (let i = 0; i < count; i += 1) {
      reservation = await guard.reserve(email, ip);
      await guard.failed(domain.em(), reservation);
    }
    return reservation;
  }

  const owner = (email: string) => domain.user(email);

  const lockedOutEvents = (email: string) =>
    domain
      .em()
      .find(AuditEventSchema, { action: 'user.locked-out' })
      .then((events) => events.filter((event) => (event.details as { email?: string } | null)?.email === email));

  it('counts each attempt before its check, and locks the client out of the email at the threshold', async () => {
    const email = freshEmail();
    const ip = freshIp();
    const counts: number[] = [];
    for (let i = 0; i < ACCOUNT; i += 1) {
      const reservation = await guard.reserve(email, ip);
      counts.push(reservation.accountFailures);
      await guard.failed(domain.em(), reservation);
    }
    expect(counts).to.deep.equal([1, 2, 3]);
    const locked = await rejection(guard.reserve(email, ip));
    expect(locked.code).to.equal('too-many-failed-attempts');
    expect(locked.scope).to.equal('account');
    expect(Number(locked.headers['Retry-After'])).to.be.within(890, 900);
  });

  it('does not let parallel guesses past the threshold: of ten at once, the threshold are checked', async () => {
    const email = freshEmail();
    const ip = freshIp();
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => guard.reserve(email, ip)));
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).to.have.length(ACCOUNT);
    for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason.code).to.equal('too-many-failed-attempts');
  });

  it('locks a stranger out, not the owner signing in from elsewhere (per-client lock), and mails the owner once', async () => {
    const email = freshEmail();
    await owner(email);
    const stranger = freshIp();
    await fail(email, stranger, ACCOUNT);
    expect((await rejection(guard.reserve(email, stranger))).code).to.equal('too-many-failed-attempts');

    const fromHome = await guard.reserve(email, freshIp());
    expect(fromHome).to.include({ accountFailures: 1, globalFailures: ACCOUNT + 1 });
    await guard.succeeded(fromHome);

    const mails = await domain.em().find(OutboxMailSchema, { recipient: email });
    expect(mails, 'one lock, one mail').to.have.length(1);
    const [event] = await lockedOutEvents(email);
    expect(event.details).to.include({ scope: 'client', failures: ACCOUNT });
  });

  it('locks the email for everyone when failures from all clients together reach the global threshold', async () => {
    const email = freshEmail();
    await owner(email);
    for (let i = 0; i < GLOBAL; i += 1) await fail(email, freshIp());
    const locked = await rejection(guard.reserve(email, freshIp()));
    expect(locked.code).to.equal('too-many-failed-attempts');
    expect(locked.scope).to.equal('account');
    const events = await lockedOutEvents(email);
    expect(events.map((event) => (event.details as { scope: string }).scope)).to.deep.equal(['everyone']);
  });

  it('resets the client\'s count for the email on success, but not the email\'s global count', async () => {
    const email = freshEmail();
    const ip = freshIp();
    await fail(email, ip, ACCOUNT - 1);
    await guard.succeeded(await guard.reserve(email, ip));
    const next = await guard.reserve(email, ip);
    expect(next.accountFailures, 'the client starts again').to.equal(1);
    expect(next.globalFailures, 'the two failures still count for the email').to.equal(ACCOUNT);
    // So the client may fail the threshold again before it is locked out.
    await guard.failed(domain.em(), next);
    await fail(email, ip, ACCOUNT - 1);
    expect((await rejection(guard.reserve(email, ip))).code).to.equal('too-many-failed-attempts');
  });

  it('gives an attempt back on release and keeps the earlier failures counted', async () => {
    const email = freshEmail();
    const ip = freshIp();
    await fail(email, ip, ACCOUNT - 1);
    const unchecked = await guard.reserve(email, ip);
    expect(unchecked.accountFailures).to.equal(ACCOUNT);
    await guard.release(unchecked);
    const again = await guard.reserve(email, ip);
    expect(again).to.include({ accountFailures: ACCOUNT, globalFailures: ACCOUNT, ipFailures: ACCOUNT });
    await guard.failed(domain.em(), again);
    expect((await rejection(guard.reserve(email, ip))).code, 'released attempts do not reset the lock').to.equal('too-many-failed-attempts');
  });

  it('takes nothing from the IP\'s budget for attempts refused by a lock', async () => {
    const email = freshEmail();
    const ip = freshIp();
    await fail(email, ip, ACCOUNT);
    for (let i = 0; i < 10; i += 1) expect((await rejection(guard.reserve(email, ip))).code).to.equal('too-many-failed-attempts');
    const other = await guard.reserve(freshEmail(), ip);
    expect(other.ipFailures).to.equal(ACCOUNT + 1);
  });

  it('blocks a client at the IP threshold across emails, records the block on the clock, and lifts it on unblock', async () => {
    const ip = freshIp();
    domain.clock.advance(86_400);
    const blockedAt = domain.clock.now();
    for (let i = 0; i < IP; i += 1) await fail(freshEmail(), ip);
    const blocked = await rejection(guard.reserve(freshEmail(), ip));
    expect(blocked.code).to.equal('too-many-failed-attempts');
    expect(blocked.scope).to.equal('ip');

    const [row] = await domain.em().find(BlockedIpSchema, { ip });
    expect(row).to.include({ failures: IP, unblockedAt: null });
    expect(row.expiresAt.getTime() - row.blockedAt.getTime()).to.equal(3_600_000);
    expect(row.blockedAt.getTime()).to.be.within(blockedAt.getTime(), domain.clock.now().getTime() + 1);

    expect(await guard.unblockIp(domain.em(), ip)).to.equal(true);
    expect((await guard.reserve(freshEmail(), ip)).ipFailures).to.equal(1);
    expect(await guard.unblockIp(domain.em(), ip), 'no block in force any more').to.equal(false);
  });

  it('counts an IPv6 client by its /64 network', async () => {
    const email = freshEmail();
    const first = await guard.reserve(email, '2001:db8:1:2::1');
    const second = await guard.reserve(email, '2001:db8:1:2:ffff::9');
    expect(first.ip).to.equal('2001:db8:1:2::/64');
    expect(second).to.include({ ip: '2001:db8:1:2::/64', accountFailures: 2, ipFailures: 2 });
    const elsewhere = await guard.reserve(email, '2001:db8:1:3::1');
    expect(elsewhere.accountFailures).to.equal(1);
  });

  it('ends the global lock and the resetting client\'s lock on recovery, not other clients\' locks', async () => {
    const email = freshEmail();
    const resetting = freshIp();
    const other = freshIp();
    await fail(email, other, ACCOUNT);
    await fail(email, resetting, GLOBAL - ACCOUNT);
    expect((await rejection(guard.reserve(email, freshIp()))).code, 'locked for everyone').to.equal('too-many-failed-attempts');
    await guard.accountRecovered(email, resetting);
    expect(await guard.reserve(email, resetting)).to.include({ accountFailures: 1, globalFailures: 1 });
    expect((await rejection(guard.reserve(email, other))).code, 'the other client stays locked out').to.equal('too-many-failed-attempts');
  });
});
