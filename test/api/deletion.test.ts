import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { OutboxMailSchema, SessionSchema, UserSchema } from '../../src/db/entities.js';
import { jobs, runJob } from '../../src/jobs/scheduler.js';
import { createUser } from '../../src/domain/users/new-user.js';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

describe('account deletion (deleteMe) and the purge', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start({ DELETION_GRACE_DAYS: '30', REAUTH_MAX_AGE: '300' });
  });
  after(() => app.stop());

  const purgeJob = () => jobs(app.services).find((job) => job.name === 'purge-deleted-accounts')!;
  const userRow = (email: string) => app.services.orm.em.fork().findOne(UserSchema, { email });

  /** An account with no password, as social sign-in makes them, with a session started now. */
  async function passwordlessAccount() {
    const em = app.services.orm.em.fork();
    const now = app.clock.now();
    const user = createUser(em, { email: uniqueEmail('social'), name: null, passwordHash: null, role: 'user', now });
    await em.flush();
    const issued = await app.services.sessions.start(em, user, { ip: '127.0.0.1', userAgent: null });
    const refreshed = await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: issued.refreshToken } });
    return { email: user.email, accessToken: refreshed.body.accessToken as string };
  }

  it('needs the password, then disables the account at once and ends every session', async () => {
    const account = await app.createUser();
    const mine = await app.login(account.email, account.password);
    const other = await app.login(account.email, account.password);

    const missing = await app.request('DELETE', '/v1/me', { token: mine.accessToken });
    failWith(missing, 403, 'reauthentication-required');
    const wrong = await app.request('DELETE', '/v1/me', { token: mine.accessToken, body: { password: 'not the password' } });
    expect(wrong.status).to.equal(403);

    const before = app.mail.mails.length;
    const deleted = await app.request('DELETE', '/v1/me', { token: mine.accessToken, body: { password: account.password } });
    expect(deleted.status).to.equal(204);

    for (const session of [mine, other]) {
      expect((await app.request('GET', '/v1/me', { token: session.accessToken })).status).to.equal(401);
      expect((await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: session.refreshToken } })).status).to.equal(401);
    }
    const login = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } });
    failWith(login, 401, 'invalid-credentials');
    await app.mail.next(account.email, { subject: /deleted/, after: before });
  });

  it('keeps the email taken during the grace period: registering it again gets no link', async () => {
    const account = await app.createUser();
    const { accessToken } = await app.login(account.email, account.password);
    await app.request('DELETE', '/v1/me', { token: accessToken, body: { password: account.password } });
    const before = app.mail.mails.length;
    const again = await app.request('POST', '/v1/auth/register', { body: { email: account.email, password: 'the squatter passphrase' } });
    expect(again.status).to.equal(202);
    const notice = await app.mail.next(account.email, { subject: /already have an account/, after: before });
    expect(notice.text).not.to.contain('token=');
  });

  it('lets an account without a password go with a recent sign-in, and refuses an old one', async () => {
    const fresh = await passwordlessAccount();
    expect((await app.request('DELETE', '/v1/me', { token: fresh.accessToken })).status).to.equal(204);

    const stale = await passwordlessAccount();
    app.clock.advance(301);
    try {
      const reply = await app.request('DELETE', '/v1/me', { token: stale.accessToken });
      failWith(reply, 403, 'reauthentication-required');
    } finally {
      app.clock.advance(-301);
    }
  });

  it('purges a deleted account, its sessions and its data after the grace period, not before', async () => {
    const account = await app.createUser();
    const { accessToken } = await app.login(account.email, account.password);
    const userId = (await userRow(account.email))!.id;
    const mailsBefore = app.mail.mails.length;
    await app.request('DELETE', '/v1/me', { token: accessToken, body: { password: account.password } });
    await app.mail.next(account.email, { subject: /was deleted/, after: mailsBefore });
    await app.services.mailer.idle();

    app.clock.advance(29 * 86_400);
    await runJob(app.services, purgeJob());
    expect(await userRow(account.email)).not.to.equal(null);

    app.clock.advance(2 * 86_400);
    const counts = (await runJob(app.services, purgeJob())) as { users: number };
    expect(counts.users).to.be.at.least(1); // earlier tests deleted accounts too
    expect(await userRow(account.email)).to.equal(null);
    expect(await app.services.orm.em.fork().count(SessionSchema, { userId })).to.equal(0);
    // Its delivered mail (the verification link, the deletion notice) went with it: the outbox keeps no trace of the address.
    expect(await app.services.orm.em.fork().count(OutboxMailSchema, { recipient: account.email })).to.equal(0);

    // The email is free again: a new registration gets a link.
    const before = app.mail.mails.length;
    await app.request('POST', '/v1/auth/register', { body: { email: account.email, password: 'a perfectly fine passphrase' } });
    await app.mail.next(account.email, { subject: /Confirm your email address/, after: before });
  });

  it('purges at once when DELETION_GRACE_DAYS is 0', async () => {
    const immediate = await TestServer.start({ DELETION_GRACE_DAYS: '0' });
    try {
      const account = await immediate.createUser();
      const { accessToken } = await immediate.login(account.email, account.password);
      expect((await immediate.request('DELETE', '/v1/me', { token: accessToken, body: { password: account.password } })).status).to.equal(204);
      expect(await immediate.services.orm.em.fork().findOne(UserSchema, { email: account.email })).to.equal(null);
      // The mail already delivered went with the account; the deletion notice, queued in the same transaction, still goes out.
      await immediate.mail.next(account.email, { subject: /was deleted/ });
      const left = await immediate.services.orm.em.fork().find(OutboxMailSchema, { recipient: account.email });
      expect(left.map((mail) => mail.subject)).to.deep.equal(['Your account was deleted']);
    } finally {
      await immediate.stop();
    }
  });
});
