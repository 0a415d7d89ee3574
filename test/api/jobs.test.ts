import { expect } from 'chai';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import {
  AuditEventSchema,
  OutboxMailSchema,
  PasswordResetTokenSchema,
  PendingRegistrationSchema,
  RefreshTokenSchema,
  SessionSchema,
} from '../../src/db/entities.js';
import { jobs, runJob } from '../../src/jobs/scheduler.js';
import { addSeconds } from '../../src/domain/kernel/clock.js';
import { TestServer, uniqueEmail, usingPostgres } from '../helpers/server.js';

describe('scheduled jobs', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start({ VERIFICATION_TTL: '1800', SESSION_RETENTION_DAYS: '30', REFRESH_TOKEN_TTL: String(90 * 86_400) });
  });
  after(() => app.stop());

  const job = (name: string) => jobs(app.services).find((candidate) => candidate.name === name)!;
  const em = () => app.services.orm.em.fork();

  it('delete-expired-registrations removes pending registrations past the verification window only', async () => {
    const old = uniqueEmail();
    await app.request('POST', '/v1/auth/register', { body: { email: old, password: 'a perfectly fine passphrase' } });
    app.clock.advance(1000);
    const recent = uniqueEmail();
    await app.request('POST', '/v1/auth/register', { body: { email: recent, password: 'a perfectly fine passphrase' } });
    app.clock.advance(801); // old is 1801 s old, recent 801 s

    const counts = await runJob(app.services, job('delete-expired-registrations'));
    expect(counts).to.deep.equal({ registrations: 1 });
    expect(await em().count(PendingRegistrationSchema, { email: old })).to.equal(0);
    expect(await em().count(PendingRegistrationSchema, { email: recent })).to.equal(1);
  });

  it('delete-spent-tokens removes used and expired reset links, and sessions ended longer ago than the retention', async () => {
    const account = await app.createUser();
    const ended = await app.login(account.email, account.password);
    const live = await app.login(account.email, account.password);
    await app.request('POST', '/v1/auth/logout', { token: ended.accessToken });
    await app.request('POST', '/v1/auth/password/forgot', { body: { email: account.email } });
    await app.mail.next(account.email, { subject: /Reset/ });

    app.clock.advance(3601); // the reset link has expired; the ended session is within retention
    const first = await runJob(app.services, job('delete-spent-tokens'));
    expect(first).to.include({ resetTokens: 1, sessions: 0 });
    expect(await em().count(PasswordResetTokenSchema, {})).to.equal(0);

    app.clock.advance(31 * 86_400);
    // The live session is refreshed so that it stays live past the retention.
    const refreshed = await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: live.refreshToken } });
    expect(refreshed.status).to.equal(200);
    const second = await runJob(app.services, job('delete-spent-tokens'));
    expect(second).to.include({ sessions: 1 });
    expect(await em().count(SessionSchema, { id: ended.session.id })).to.equal(0);
    expect(await em().count(RefreshTokenSchema, { sessionId: ended.session.id })).to.equal(0);
    expect(await em().count(SessionSchema, { id: live.session.id })).to.equal(1);
    expect((await app.request('GET', '/v1/me', { token: refreshed.body.accessToken })).status).to.equal(200);
  });

  it('delete-old-mail removes mail delivered or given up longer ago than MAIL_OUTBOX_RETENTION_DAYS, never mail still waiting', async () => {
    const orm = em();
    const row = (recipient: string, fields: Partial<{ sentAt: Date; failedAt: Date }>) =>
      orm.create(OutboxMailSchema, {
        id: randomUUID(),
        recipient,
        subject: 'retention',
        textBody: null,
        htmlBody: null,
        createdAt: app.clock.now(),
        attempts: 1,
        nextAttemptAt: addSeconds(app.clock.now(), 10 * 365 * 86_400), // not due: the deliverer leaves it alone
        lockedUntil: null,
        sentAt: fields.sentAt ?? null,
        failedAt: fields.failedAt ?? null,
        lastError: null,
      });
    // Mail of earlier tests, on a clock they moved on by weeks, goes first.
    await runJob(app.services, job('delete-old-mail'));
    const delivered = uniqueEmail('delivered');
    const givenUp = uniqueEmail('given-up');
    const waiting = uniqueEmail('waiting');
    const recent = uniqueEmail('recent');
    row(delivered, { sentAt: app.clock.now() });
    row(givenUp, { failedAt: app.clock.now() });
    row(waiting, {});
    await orm.flush();
    app.clock.advance(29 * 86_400);
    row(recent, { sentAt: app.clock.now() });
    await orm.flush();
    expect(await runJob(app.services, job('delete-old-mail'))).to.deep.equal({ mails: 0 });

    app.clock.advance(2 * 86_400); // the first three are 31 days old, `recent` 2 days
    expect(await runJob(app.services, job('delete-old-mail'))).to.deep.equal({ mails: 2 });
    const left = await em().find(OutboxMailSchema, { recipient: { $in: [delivered, givenUp, waiting, recent] } });
    expect(left.map((mail) => mail.recipient).sort()).to.deep.equal([recent, waiting].sort());
  });

  it('delete-old-audit-events keeps AUDIT_RETENTION_DAYS of audit events', async () => {
    const retained = await TestServer.start({ AUDIT_RETENTION_DAYS: '10' });
    try {
      const old = await retained.createUser();
      retained.clock.advance(9 * 86_400);
      const recent = await retained.createUser();
      const byTarget = async (userId: string) => retained.services.orm.em.fork().count(AuditEventSchema, { targetUserId: userId });
      expect(await byTarget(old.user.id)).to.be.above(0);
      const job10 = jobs(retained.services).find((candidate) => candidate.name === 'delete-old-audit-events')!;
      expect(await runJob(retained.services, job10)).to.deep.equal({ auditEvents: 0 });
      retained.clock.advance(2 * 86_400); // old's events are 11 days old, recent's 2
      const counts = (await runJob(retained.services, job10)) as { auditEvents: number };
      expect(counts.auditEvents).to.be.above(0);
      expect(await byTarget(old.user.id)).to.equal(0);
      expect(await byTarget(recent.user.id)).to.be.above(0);
    } finally {
      await retained.stop();
    }
  });

  it('logs one line per run with its counts', async () => {
    await runJob(app.services, job('delete-expired-registrations')); // what earlier tests left
    await app.request('POST', '/v1/auth/register', { body: { email: uniqueEmail(), password: 'a perfectly fine passphrase' } });
    app.clock.advance(1801);
    const before = app.logs.length;
    const counts = await runJob(app.services, job('delete-expired-registrations'));
    expect(counts).to.deep.equal({ registrations: 1 });
    const line = app.logs.slice(before).map((l) => JSON.parse(l)).find((l) => l.msg === 'job ran');
    expect(line).to.include({ job: 'delete-expired-registrations', registrations: 1 });
    expect(line.ms).to.be.a('number');
  });

  (usingPostgres ? it : it.skip)('skips a run while another instance holds the job\'s advisory lock (PostgreSQL)', async () => {
    const other = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query("select pg_advisory_xact_lock(hashtext('pulse-auth:job:delete-expired-registrations'))");
      expect(await runJob(app.services, job('delete-expired-registrations'))).to.equal('skipped');
      await other.query('COMMIT');
      expect(await runJob(app.services, job('delete-expired-registrations'))).to.deep.equal({ registrations: 0 });
    } finally {
      await other.end();
    }
  });
});
