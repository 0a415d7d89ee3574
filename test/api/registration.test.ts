import { expect } from 'chai';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { failWith } from '../helpers/assertions.js';

describe('registration (register, verifyEmail, resendVerification)', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start();
  });
  after(() => app.stop());

  it('mails a link over SMTP whose token turns the registration into a verified user', async () => {
    const email = uniqueEmail();
    const reply = await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase', name: 'Ada' } });
    expect(reply.status).to.equal(202);

    const mail = await app.mail.next(email);
    expect(mail.subject).to.equal('Confirm your email address');
    expect(mail.text).to.contain('http://app.test/verify-email?token=');

    const verified = await app.request('POST', '/v1/auth/verify-email', { body: { token: tokenFrom(mail), password: 'a perfectly fine passphrase' } });
    expect(verified.status).to.equal(200);
    expect(verified.body).to.include({ email, name: 'Ada', role: 'user', emailVerified: true });

    const again = await app.request('POST', '/v1/auth/verify-email', { body: { token: tokenFrom(mail), password: 'a perfectly fine passphrase' } });
    failWith(again, 400, 'invalid-verification-token');
  });

  it('keeps no user row until the email is verified', async () => {
    const email = uniqueEmail();
    await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase' } });
    await app.mail.next(email);
    const login = await app.request('POST', '/v1/auth/login', { body: { email, password: 'a perfectly fine passphrase' } });
    failWith(login, 401, 'invalid-credentials');
  });

  it('normalises the email: case and surrounding spaces do not make a second account', async () => {
    const { email } = await app.createUser();
    const before = app.mail.mails.length;
    const reply = await app.request('POST', '/v1/auth/register', { body: { email: email.toUpperCase(), password: 'another fine passphrase' } });
    expect(reply.status).to.equal(202);
    const notice = await app.mail.next(email, { after: before });
    expect(notice.subject).to.equal('You already have an account');
  });

  it('lets the newest registration of an unverified email win: the older link stops working', async () => {
    const email = uniqueEmail();
    await app.request('POST', '/v1/auth/register', { body: { email, password: 'first passphrase here' } });
    const first = await app.mail.next(email);
    const count = app.mail.mails.length;
    await app.request('POST', '/v1/auth/register', { body: { email, password: 'second passphrase here' } });
    const second = await app.mail.next(email, { after: count });

    const old = await app.request('POST', '/v1/auth/verify-email', { body: { token: tokenFrom(first), password: 'first passphrase here' } });
    expect(old.status).to.equal(400);
    const fresh = await app.request('POST', '/v1/auth/verify-email', { body: { token: tokenFrom(second), password: 'second passphrase here' } });
    expect(fresh.status).to.equal(200);
    expect((await app.request('POST', '/v1/auth/login', { body: { email, password: 'second passphrase here' } })).status).to.equal(200);
    expect((await app.request('POST', '/v1/auth/login', { body: { email, password: 'first passphrase here' } })).status).to.equal(401);
  });

  it('answers an already registered email with the same 202 and body, and mails the owner a notice instead of a link', async () => {
    const { email } = await app.createUser();
    const unknown = await app.request('POST', '/v1/auth/register', { body: { email: uniqueEmail(), password: 'a perfectly fine passphrase' } });
    const before = app.mail.mails.length;
    const known = await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase' } });
    expect(known.status).to.equal(unknown.status);
    expect(known.body).to.deep.equal(unknown.body);
    const notice = await app.mail.next(email, { after: before });
    expect(notice.subject).to.equal('You already have an account');
    expect(notice.text).not.to.contain('token=');
  });

  it('lets exactly one of 20 concurrent uses of one token succeed', async () => {
    const email = uniqueEmail();
    await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase' } });
    const token = tokenFrom(await app.mail.next(email));
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => app.request('POST', '/v1/auth/verify-email', { body: { token, password: 'a perfectly fine passphrase' } })),
    );
    expect(replies.filter((r) => r.status === 200)).to.have.length(1);
    expect(replies.filter((r) => r.status === 400)).to.have.length(19);
  });

  it('refuses a link once the verification window has passed', async () => {
    const email = uniqueEmail();
    await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase' } });
    const token = tokenFrom(await app.mail.next(email));
    app.clock.advance(app.services.config.VERIFICATION_TTL + 1);
    const reply = await app.request('POST', '/v1/auth/verify-email', { body: { token, password: 'a perfectly fine passphrase' } });
    failWith(reply, 400, 'invalid-verification-token');
  });

  it('refuses weak passwords with 422 weak-password and a pointer to the field', async () => {
    for (const password of ['short', 'password123', 'iloveyou', 'x'.repeat(257)]) {
      const reply = await app.request('POST', '/v1/auth/register', { body: { email: uniqueEmail(), password } });
      expect([400, 422], password).to.include(reply.status);
      expect(reply.body.errors[0].pointer).to.equal('/body/password');
    }
    const common = await app.request('POST', '/v1/auth/register', { body: { email: uniqueEmail(), password: 'Password123' } });
    failWith(common, 422, 'weak-password');
  });

  it('accepts any Unicode password of 8 characters or more', async () => {
    const { email, password } = await app.createUser({ password: 'пароль😀日本語テキスト' });
    expect((await app.request('POST', '/v1/auth/login', { body: { email, password } })).status).to.equal(200);
  });

  it('lists every invalid field of a bad body', async () => {
    const reply = await app.request('POST', '/v1/auth/register', { body: { email: 'not-an-email', password: 1, extra: true } });
    failWith(reply, 400, 'validation-failed');
    const pointers = reply.body.errors.map((e: { pointer: string }) => e.pointer);
    expect(pointers).to.include.members(['/body/email', '/body/password']);
  });

  describe('resendVerification', () => {
    it('mails a fresh link and retires the earlier one', async () => {
      const email = uniqueEmail();
      await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase' } });
      const first = await app.mail.next(email);
      const count = app.mail.mails.length;
      const reply = await app.request('POST', '/v1/auth/resend-verification', { body: { email } });
      expect(reply.status).to.equal(202);
      const second = await app.mail.next(email, { after: count });
      expect(tokenFrom(second)).not.to.equal(tokenFrom(first));
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token: tokenFrom(first), password: 'a perfectly fine passphrase' } })).status).to.equal(400);
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token: tokenFrom(second), password: 'a perfectly fine passphrase' } })).status).to.equal(200);
    });

    it('answers 202 for unknown and verified emails alike, mailing nothing', async () => {
      const { email } = await app.createUser();
      const unknownEmail = uniqueEmail();
      const before = app.mail.mails.length;
      const known = await app.request('POST', '/v1/auth/resend-verification', { body: { email } });
      const unknown = await app.request('POST', '/v1/auth/resend-verification', { body: { email: unknownEmail } });
      expect(known.status).to.equal(202);
      expect(unknown.body).to.deep.equal(known.body);
      await app.services.mailer.idle();
      expect(app.mail.mails.length).to.equal(before);
    });
  });

  it('grants the admin role at verification to emails listed in ADMIN_EMAILS', async () => {
    const admins = await TestServer.start({ ADMIN_EMAILS: 'Boss@Example.com, other@example.com' });
    try {
      const { user } = await admins.createUser({ email: 'boss@example.com' });
      expect(user.role).to.equal('admin');
    } finally {
      await admins.stop();
    }
  });
});
