import { expect } from 'chai';
import { OutboxMailSchema } from '../../src/db/entities.js';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';

describe('mail outbox', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start({ MAIL_RETRY_SECONDS: '30', MAIL_MAX_ATTEMPTS: '3' });
  });
  after(() => app.stop());

  const outbox = () => app.services.orm.em.fork().find(OutboxMailSchema, {}, { orderBy: { createdAt: 'asc' } });

  it('keeps registrations working through an SMTP outage and delivers the mail once SMTP is back', async () => {
    app.mail.refuse = true;
    const email = uniqueEmail();
    const reply = await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase' } });
    expect(reply.status).to.equal(202);
    await app.services.mailer.idle();

    const [queued] = (await outbox()).filter((mail) => mail.recipient === email);
    expect(queued).to.include({ attempts: 1, sentAt: null });
    expect(queued.lastError).to.match(/450|unavailable/i);
    expect(queued.nextAttemptAt.getTime() - app.clock.now().getTime()).to.be.within(25_000, 31_000);

    // Not due yet: the backoff holds it back.
    expect((await app.services.mailer.deliverDue()).sent).to.equal(0);

    app.mail.refuse = false;
    app.clock.advance(31);
    expect(await app.services.mailer.deliverDue()).to.include({ sent: 1 });
    const mail = await app.mail.next(email);
    expect((await app.request('POST', '/v1/auth/verify-email', { body: { token: tokenFrom(mail), password: 'a perfectly fine passphrase' } })).status).to.equal(200);
  });

  it('clears the body of a delivered mail, so no single-use link stays in the database', async () => {
    const email = uniqueEmail();
    await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase' } });
    await app.mail.next(email);
    await app.services.mailer.idle();
    const [sent] = (await outbox()).filter((mail) => mail.recipient === email);
    expect(sent.sentAt).to.be.instanceOf(Date);
    expect(sent.textBody).to.equal(null);
    expect(sent.htmlBody).to.equal(null);
  });

  it('gives a mail up after MAIL_MAX_ATTEMPTS, with the last error kept', async () => {
    app.mail.refuse = true;
    const email = uniqueEmail();
    await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase' } });
    await app.services.mailer.idle();
    for (let attempt = 2; attempt <= 3; attempt += 1) {
      app.clock.advance(3600);
      await app.services.mailer.deliverDue();
    }
    app.mail.refuse = false;
    const [mail] = (await outbox()).filter((m) => m.recipient === email);
    expect(mail.attempts).to.equal(3);
    expect(mail.failedAt).to.be.instanceOf(Date);
    expect(mail.sentAt).to.equal(null);
  });

  it('sends each queued mail once even when delivery runs overlap', async () => {
    app.mail.refuse = true;
    const emails = [uniqueEmail(), uniqueEmail(), uniqueEmail()];
    for (const email of emails) await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase' } });
    await app.services.mailer.idle();
    app.mail.refuse = false;
    app.clock.advance(3600);
    await Promise.all([app.services.mailer.deliverDue(), app.services.mailer.deliverDue(), app.services.mailer.deliverDue()]);
    for (const email of emails) expect(app.mail.count(email), email).to.equal(1);
  });
});

describe('logs', () => {
  it('never contain a password, a password hash or a token, over a whole journey', async () => {
    const app = await TestServer.start({ LOG_LEVEL: 'trace' });
    try {
      const password = 'secret passphrase that must not leak';
      const { email } = await app.createUser({ password });
      const verificationToken = tokenFrom(app.mail.mails.find((mail) => mail.to === email)!);
      const login = await app.login(email, password, 'body');
      const cookieLogin = await app.request('POST', '/v1/auth/login', { body: { email, password } });
      const refreshed = await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: login.refreshToken } });
      await app.request('GET', '/v1/me', { token: refreshed.body.accessToken });
      await app.request('POST', '/v1/auth/login', { rawBody: `{"email":"${email}","password":"${password}"`, headers: { 'content-type': 'application/json' } });
      await app.request('POST', '/v1/auth/login', { body: { email, password: `${password}!` } });
      await app.request('POST', '/v1/auth/logout', { token: login.accessToken });

      const { UserSchema } = await import('../../src/db/entities.js');
      const user = await app.services.orm.em.fork().findOneOrFail(UserSchema, { email }, { populate: ['passwordHash'] });
      const secrets = {
        password,
        verificationToken,
        accessToken: login.accessToken,
        refreshToken: login.refreshToken!,
        rotatedRefreshToken: refreshed.body.refreshToken,
        cookieAccessToken: cookieLogin.body.accessToken,
        passwordHash: user.passwordHash!,
      };
      const logs = app.logText();
      expect(logs.length).to.be.greaterThan(1000);
      for (const [name, secret] of Object.entries(secrets)) expect(logs.includes(secret), name).to.equal(false);
    } finally {
      await app.stop();
    }
  });
});
