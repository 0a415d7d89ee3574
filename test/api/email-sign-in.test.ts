import { expect } from 'chai';
import { EmailSignInRequestSchema, LoginAttemptSchema, UserSchema } from '../../src/db/entities.js';
import { deleteSpentTokens } from '../../src/jobs/cleanup.js';
import { TestServer, refreshCookie, uniqueEmail, type Reply } from '../helpers/server.js';
import { tokenFrom, type CaughtMail } from '../helpers/mail-catcher.js';

/** Passwordless sign-in by email (requestEmailSignIn, finishEmailSignIn): PRODUCT.md §5.4, issue 21. */
describe('email sign-in', () => {
  let app: TestServer;
  before(async () => {
    // The account lockout is out of the way: the request's own cap of 5 wrong codes is under test here.
    app = await TestServer.start({ LOCKOUT_ACCOUNT_THRESHOLD: '1000', LOCKOUT_IP_THRESHOLD: '1000' });
  });
  after(() => app.stop());

  const codeFrom = (mail: CaughtMail) => {
    const match = /enter the code (\d{6})/.exec(mail.text);
    if (!match) throw new Error(`no code in mail "${mail.subject}"`);
    return match[1];
  };

  /** Asks for a sign-in and reads the link's token and the code from the mail. */
  async function requestSignIn(email: string) {
    const before = app.mail.mails.length;
    const asked = await app.request('POST', '/v1/auth/email-sign-in', { body: { email } });
    expect(asked.status, asked.text).to.equal(202);
    const mail = await app.mail.next(email, { subject: /Sign in to your account/, after: before });
    return { token: tokenFrom(mail), code: codeFrom(mail), mail };
  }

  const finish = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    app.request('POST', '/v1/auth/email-sign-in/verify', { body, headers });

  it('mails a link to {APP_URL}/sign-in and a 6-digit code, and stores only their hashes', async () => {
    const account = await app.createUser();
    const { token, code, mail } = await requestSignIn(account.email);
    expect(mail.text).to.contain(`http://app.test/sign-in?token=${encodeURIComponent(token)}`);
    expect(code).to.match(/^\d{6}$/);
    expect(mail.subject).not.to.contain(code);
    const [stored] = await app.services.orm.em.fork().find(EmailSignInRequestSchema, { userId: account.user.id });
    expect(stored.tokenHash).not.to.contain(token);
    expect(stored.codeHash).not.to.contain(code);
  });

  it('the link signs in, into the cookie by default, once', async () => {
    const account = await app.createUser();
    const { token } = await requestSignIn(account.email);
    const signedIn = await finish({ token });
    expect(signedIn.status, signedIn.text).to.equal(200);
    expect(signedIn.body.outcome).to.equal('signed-in');
    expect(signedIn.body.user.email).to.equal(account.email);
    expect(signedIn.body.refreshToken).to.equal(undefined);
    expect(refreshCookie(signedIn.headers)).to.match(/HttpOnly/);
    const me = await app.request('GET', '/v1/me', { token: signedIn.body.accessToken });
    expect(me.status).to.equal(200);

    const again = await finish({ token });
    expect(again.status).to.equal(401);
    expect(again.body.code).to.equal('invalid-email-sign-in');
  });

  it('the code signs in, with body delivery, once; it is recorded in the login history as an email sign-in', async () => {
    const account = await app.createUser();
    const { code, token } = await requestSignIn(account.email);
    const signedIn = await finish({ email: account.email.toUpperCase(), code, refreshTokenDelivery: 'body' });
    expect(signedIn.status, signedIn.text).to.equal(200);
    expect(signedIn.body.refreshToken).to.be.a('string');
    const again = await finish({ email: account.email, code });
    expect(again.status).to.equal(401);
    expect(again.body.code).to.equal('invalid-email-sign-in');
    // The code spent the request: the link of the same mail is dead too.
    expect((await finish({ token })).status).to.equal(401);

    const history = await app.request('GET', '/v1/me/login-history', { token: signedIn.body.accessToken });
    expect(history.body.items[0].method).to.equal('email');
    const attempts = await app.services.orm.em.fork().find(LoginAttemptSchema, { userId: account.user.id, outcome: 'success' });
    expect(attempts.map((attempt) => attempt.method)).to.include('email');
  });

  it('link and code expire after EMAIL_SIGN_IN_TTL (10 minutes)', async () => {
    const account = await app.createUser();
    const { token, code } = await requestSignIn(account.email);
    app.clock.advance(601);
    expect((await finish({ token })).body.code).to.equal('invalid-email-sign-in');
    expect((await finish({ email: account.email, code })).body.code).to.equal('invalid-email-sign-in');
    // The cleanup job removes the expired request.
    const em = app.services.orm.em.fork();
    const counts = await deleteSpentTokens(em, app.clock.now(), 30);
    expect(counts.emailSignIns).to.be.at.least(1);
    expect(await em.count(EmailSignInRequestSchema, { userId: account.user.id })).to.equal(0);
  });

  it('a newer request replaces the older: its link and code stop working', async () => {
    const account = await app.createUser();
    const first = await requestSignIn(account.email);
    const second = await requestSignIn(account.email);
    expect((await finish({ token: first.token })).status).to.equal(401);
    if (first.code !== second.code) expect((await finish({ email: account.email, code: first.code })).status).to.equal(401);
    const signedIn = await finish({ token: second.token });
    expect(signedIn.status, signedIn.text).to.equal(200);
  });

  it('a wrong code says how many tries are left', async () => {
    const account = await app.createUser();
    const { code } = await requestSignIn(account.email);
    const wrong = await finish({ email: account.email, code: code === '000000' ? '000001' : '000000' });
    expect(wrong.status).to.equal(401);
    expect(wrong.body.detail).to.contain('4 tries left');
    expect((await finish({ email: account.email, code })).status).to.equal(200);
  });

  it('5 wrong codes kill the request, even when 10 wrong codes and the right one are sent at once', async () => {
    const account = await app.createUser();
    const { code, token } = await requestSignIn(account.email);
    const wrongCodes = Array.from({ length: 10 }, (_, n) => String((Number(code) + 1 + n * 7919) % 1_000_000).padStart(6, '0'));
    const replies: Reply[] = await Promise.all(wrongCodes.map((wrong) => finish({ email: account.email, code: wrong })));
    for (const reply of replies) expect(reply.status).to.equal(401);
    // Exactly 5 were compared: each saw its own count (4, 3, 2, 1 tries left, then the last try).
    const compared = replies.filter((reply) => /(tries|try) left|last try/.test(reply.body.detail));
    expect(compared.map((reply) => reply.body.detail), replies.map((reply) => reply.body.detail).join(' | ')).to.have.length(5);
    expect(new Set(compared.map((reply) => reply.body.detail)).size).to.equal(5);
    const [stored] = await app.services.orm.em.fork().find(EmailSignInRequestSchema, { userId: account.user.id });
    expect(stored.attempts).to.equal(5);
    // The request is dead: neither the right code nor the link signs in now.
    expect((await finish({ email: account.email, code })).status).to.equal(401);
    expect((await finish({ token })).status).to.equal(401);
  });

  it('the link works once even when it is used twice at the same moment', async () => {
    const account = await app.createUser();
    const { token } = await requestSignIn(account.email);
    const replies = await Promise.all(Array.from({ length: 5 }, () => finish({ token })));
    expect(replies.filter((reply) => reply.status === 200)).to.have.length(1);
  });

  it('an unknown email: the same 202 and body, and no mail', async () => {
    const account = await app.createUser();
    const known = await app.request('POST', '/v1/auth/email-sign-in', { body: { email: account.email } });
    const nobody = uniqueEmail('nobody');
    const unknown = await app.request('POST', '/v1/auth/email-sign-in', { body: { email: nobody } });
    expect(unknown.status).to.equal(202);
    expect(unknown.body).to.deep.equal(known.body);
    await app.mail.next(account.email, { subject: /Sign in to your account/ });
    // The known email's mail has arrived; the unknown one's work ran at the same time and mailed nothing.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(app.mail.count(nobody)).to.equal(0);
    const code = await finish({ email: nobody, code: '123456' });
    expect(code.status).to.equal(401);
    expect(code.body.code).to.equal('invalid-email-sign-in');
  });

  it('an unknown or malformed link answers 401 invalid-email-sign-in, a body with both or neither 400', async () => {
    expect((await finish({ token: 'not-a-real-token' })).body.code).to.equal('invalid-email-sign-in');
    expect((await finish({})).status).to.equal(400);
    expect((await finish({ token: 'x', email: 'a@example.com', code: '123456' })).status).to.equal(400);
    expect((await finish({ email: 'a@example.com', code: '12345a' })).status).to.equal(400);
  });

  it('an account with an authenticator app or email codes gets the MFA challenge, and verifyMfa finishes', async () => {
    const account = await app.createUser();
    await app.services.orm.em.fork().nativeUpdate(UserSchema, { email: account.email }, { emailOtpEnabledAt: app.clock.now() });
    const { token } = await requestSignIn(account.email);
    const before = app.mail.mails.length;
    const challenged = await finish({ token, refreshTokenDelivery: 'body' });
    expect(challenged.status, challenged.text).to.equal(200);
    expect(challenged.body.outcome).to.equal('mfa-required');
    expect(challenged.body.methods).to.deep.equal(['email']);
    expect(challenged.body.accessToken).to.equal(undefined);
    const codeMail = await app.mail.next(account.email, { subject: /Your sign-in code/, after: before });
    const code = /code is (\d{6})/.exec(codeMail.text)![1];
    const verified = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: challenged.body.challengeId, code } });
    expect(verified.status, verified.text).to.equal(200);
    expect(verified.body.refreshToken).to.be.a('string');
  });

  it('a locked account answers 403 account-disabled, and the attempt is recorded', async () => {
    const account = await app.createUser();
    await app.services.orm.em.fork().nativeUpdate(UserSchema, { email: account.email }, { lockedAt: app.clock.now() });
    const { code } = await requestSignIn(account.email);
    const refused = await finish({ email: account.email, code });
    expect(refused.status).to.equal(403);
    expect(refused.body.code).to.equal('account-disabled');
    const attempts = await app.services.orm.em.fork().find(LoginAttemptSchema, { userId: account.user.id, reason: 'account-disabled' });
    expect(attempts).to.have.length(1);
  });

  it('a sign-in from a new device mails the owner, as login does', async () => {
    const account = await app.createUser();
    await app.login(account.email, account.password, 'body', { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0' });
    const { token } = await requestSignIn(account.email);
    const before = app.mail.mails.length;
    const signedIn = await finish({ token }, { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1' });
    expect(signedIn.status).to.equal(200);
    const mail = await app.mail.next(account.email, { after: before, subject: /New sign-in to your account/ });
    expect(mail.text).to.contain('device we have not seen before');
  });
});

describe('email sign-in: the account lockout', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start({ LOCKOUT_ACCOUNT_THRESHOLD: '3', LOCKOUT_IP_THRESHOLD: '1000' });
  });
  after(() => app.stop());

  it('wrong codes count toward the lockout like wrong passwords', async () => {
    const account = await app.createUser();
    await app.request('POST', '/v1/auth/email-sign-in', { body: { email: account.email } });
    await app.mail.next(account.email, { subject: /Sign in to your account/ });
    for (let n = 0; n < 3; n += 1) {
      await app.request('POST', '/v1/auth/email-sign-in/verify', { body: { email: account.email, code: String(n).padStart(6, '9') } });
    }
    const locked = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } });
    expect(locked.status).to.equal(429);
    expect(locked.body.code).to.equal('too-many-failed-attempts');
  });
});

describe('email sign-in: turned off', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start({ EMAIL_SIGN_IN: 'false' });
  });
  after(() => app.stop());

  it('both operations answer 404 not-found, and nothing is mailed', async () => {
    const account = await app.createUser();
    const asked = await app.request('POST', '/v1/auth/email-sign-in', { body: { email: account.email } });
    expect(asked.status).to.equal(404);
    expect(asked.body.code).to.equal('not-found');
    expect(asked.body.detail).to.contain('turned off');
    const finished = await app.request('POST', '/v1/auth/email-sign-in/verify', { body: { token: 'anything' } });
    expect(finished.status).to.equal(404);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(app.mail.mails.filter((mail) => /Sign in to your account/.test(mail.subject))).to.have.length(0);
  });
});

describe('email sign-in: rate limits', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start({ RATE_LIMIT_ACCOUNT_PER_HOUR: '2' });
  });
  after(() => app.stop());

  it('requests are limited per email (from any IP)', async () => {
    const email = uniqueEmail('limited');
    for (let n = 0; n < 2; n += 1) expect((await app.request('POST', '/v1/auth/email-sign-in', { body: { email } })).status).to.equal(202);
    const limited = await app.request('POST', '/v1/auth/email-sign-in', { body: { email } });
    expect(limited.status).to.equal(429);
    expect(limited.body.code).to.equal('rate-limited');
    expect(limited.headers.get('retry-after')).to.match(/^\d+$/);
  });
});
