import { expect } from 'chai';
import pg from 'pg';
import { PendingRegistrationSchema, RefreshTokenSchema, SessionSchema, UserSchema } from '../../src/db/entities.js';
import { jobs, runJob } from '../../src/jobs/scheduler.js';
import { TestServer, uniqueEmail, usingPostgres } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { failWith } from '../helpers/assertions.js';

/*
 * Races not covered in test/api: 20 concurrent uses of one verification link (registration.test.ts) and of one
 * password-reset link (passwords.test.ts) are there already, and so are parallel wrong passwords against the lockout
 * (protection.test.ts).
 */
describe('races', () => {
  let app: TestServer;
  before(async () => {
    // Lockout thresholds out of the way: one test signs in with nineteen wrong passwords on purpose.
    app = await TestServer.start({ REFRESH_REUSE_GRACE: '10', LOCKOUT_ACCOUNT_THRESHOLD: '100', LOCKOUT_IP_THRESHOLD: '1000' });
  });
  after(() => app.stop());

  const em = () => app.services.orm.em.fork();

  it('makes exactly one account of 20 concurrent registrations of one email, whichever links are tried', async () => {
    const email = uniqueEmail('race-register');
    const passwords = Array.from({ length: 20 }, (_, i) => `passphrase number ${i} of twenty`);
    const before = app.mail.mails.length;
    const replies = await Promise.all(passwords.map((password) => app.request('POST', '/v1/auth/register', { body: { email, password } })));
    expect(replies.map((reply) => reply.status)).to.deep.equal(passwords.map(() => 202));
    await app.services.mailer.idle();
    // The newest registration wins: one pending row, however the twenty interleaved.
    expect(await em().count(PendingRegistrationSchema, { email })).to.equal(1);

    const deadline = Date.now() + 10_000;
    while (app.mail.mails.slice(before).filter((mail) => mail.to === email).length < 20 && Date.now() < deadline) await app.mail.next(email, { after: app.mail.mails.length, timeoutMs: 1_000 }).catch(() => {});
    const links = app.mail.mails.slice(before).filter((mail) => mail.to === email && /Confirm/.test(mail.subject)).map(tokenFrom);
    expect(links).to.have.length(20);
    // Every link with every password, all at once: whoever holds the mailbox does not know which sign-up won.
    const verified = await Promise.all(
      links.flatMap((token) => passwords.map((password) => app.request('POST', '/v1/auth/verify-email', { body: { token, password } }))),
    );
    const statuses = verified.map((reply) => reply.status);
    expect(statuses.filter((status) => status === 200), statuses.join(',')).to.have.length(1);
    // The 19 superseded links are refused as links; the winning link refuses the 19 other passwords (or is spent).
    expect(statuses.filter((status) => status === 400).length).to.be.at.least(19 * 20);
    for (const reply of verified.filter((r) => r.status === 400)) expect(reply.body.code).to.equal('invalid-verification-token');
    for (const reply of verified.filter((r) => r.status === 403)) expect(reply.body.code).to.equal('registration-password-mismatch');

    expect(await em().count(UserSchema, { email })).to.equal(1);
    expect(await em().count(PendingRegistrationSchema, { email })).to.equal(0);
    // The account has the password of the registration whose link worked, and no other.
    const logins = [];
    for (const password of passwords) logins.push((await app.request('POST', '/v1/auth/login', { body: { email, password } })).status);
    expect(logins.filter((status) => status === 200)).to.have.length(1);
  });

  it('gives 50 concurrent refreshes of one token one successor and one chain, and the successor works once', async () => {
    const account = await app.createUser();
    const login = await app.login(account.email, account.password);
    const replies = await Promise.all(
      Array.from({ length: 50 }, () => app.request('POST', '/v1/auth/refresh', { body: { refreshToken: login.refreshToken } })),
    );
    expect(replies.map((reply) => reply.status)).to.deep.equal(replies.map(() => 200));
    const successors = new Set(replies.map((reply) => reply.body.refreshToken));
    expect(successors.size).to.equal(1);
    const [successor] = successors;
    expect(successor).to.be.a('string').and.not.equal(login.refreshToken);
    expect(new Set(replies.map((reply) => reply.body.session.id))).to.deep.equal(new Set([login.session.id]));

    // One session, whose chain is the spent token and its one successor.
    expect(await em().count(SessionSchema, { userId: login.user.id })).to.equal(1);
    const chain = await em().find(RefreshTokenSchema, { sessionId: login.session.id });
    expect(chain).to.have.length(2);
    expect(chain.filter((token) => token.rotatedAt === null)).to.have.length(1);
    const sessions = await app.request('GET', '/v1/me/sessions', { token: replies[0].body.accessToken });
    expect(sessions.status).to.equal(200);
    expect(JSON.stringify(sessions.body)).to.include(login.session.id);

    // The successor rotates once...
    const next = await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: successor } });
    expect(next.status).to.equal(200);
    expect(next.body.refreshToken).not.to.equal(successor);
    // ...and presented again after the grace window it is a replay: the session ends, its newest token with it.
    app.clock.advance(11);
    const replay = await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: successor } });
    failWith(replay, 401, 'invalid-refresh-token');
    expect((await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: next.body.refreshToken } })).status).to.equal(401);
    expect(await em().count(SessionSchema, { userId: login.user.id, revokedAt: null })).to.equal(0);
  });

  it('runs a cleanup job once when two instances start it together: the second skips it while the first holds its lock (PostgreSQL only: an advisory lock)', async function () {
    if (!usingPostgres) this.skip(); // SQLite serves one instance
    const job = jobs(app.services).find((candidate) => candidate.name === 'delete-expired-registrations')!;
    const lockName = `pulse-auth:job:${job.name}`;
    const url = process.env.TEST_DATABASE_URL!;
    const blocker = new pg.Client({ connectionString: url });
    const observer = new pg.Client({ connectionString: url });
    await blocker.connect();
    await observer.connect();
    try {
      // Hold the first run in the middle of its transaction: its delete waits for this table lock.
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE pending_registrations IN ACCESS EXCLUSIVE MODE');
      const first = runJob(app.services, job);
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { rows } = await observer.query(
          "select count(*)::int as waiting from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%pending_registrations%' and pid <> $1",
          [(blocker as unknown as { processID: number }).processID],
        );
        if (rows[0].waiting > 0) break;
        if (Date.now() > deadline) throw new Error('the first run never reached its delete');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // Another instance (another session) finds the job's lock taken...
      await observer.query('BEGIN');
      const { rows } = await observer.query('select pg_try_advisory_xact_lock(hashtext($1)) as locked', [lockName]);
      await observer.query('ROLLBACK');
      expect(rows[0].locked, 'the running job holds its advisory lock').to.equal(false);
      // ...and so does a second run of the job.
      expect(await runJob(app.services, job)).to.equal('skipped');
      await blocker.query('COMMIT');
      expect(await first).to.have.property('registrations');
    } finally {
      await blocker.end();
      await observer.end();
    }
  });
});
