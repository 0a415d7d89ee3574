import { expect } from 'chai';
import { generate } from 'otplib';
import type { JWK } from 'jose';
import { TestServer, refreshCookie, uniqueEmail, type Reply, type RequestOptions } from '../helpers/server.js';
import { tokenFrom, type CaughtMail } from '../helpers/mail-catcher.js';
import {
  PasswordResetTokenSchema,
  PendingRegistrationSchema,
  RecoveryCodeSchema,
  RefreshTokenSchema,
  SigningKeySchema,
  UserSchema,
} from '../../src/db/entities.js';

/**
 * The forms a secret can take in a log line or a body: as it is, URL-encoded, and base64 or base64url, also inside a
 * longer encoded text (`Basic base64(user:password)`): for each of the three byte offsets, the part of the encoding
 * that depends on the secret's bytes only.
 */
function formsOf(secret: string): string[] {
  const forms = new Set([secret, encodeURIComponent(secret)]);
  // A bcrypt hash without its `$2b$08$` prefix (salt and digest) is as bad as the whole (stored hashes may carry
  // a scheme prefix before it: `hmac-sha256:$2b$...`).
  const bcryptHash = /\$2[aby]\$\d\d\$(.+)$/.exec(secret);
  if (bcryptHash) forms.add(bcryptHash[1]);
  const bytes = Buffer.from(secret);
  for (const encoding of ['base64', 'base64url'] as const) {
    forms.add(bytes.toString(encoding).replace(/=+$/, ''));
    for (let offset = 0; offset < 3; offset++) {
      const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString(encoding).replace(/=+$/, '');
      const start = offset === 0 ? 0 : 4;
      const end = Math.floor((offset + bytes.length) / 3) * 4;
      if (end - start >= 8) forms.add(encoded.slice(start, end));
    }
  }
  return [...forms];
}

/** Where a secret shows in `text`, if anywhere (a short numeric code only as a whole number). */
function findSecret(text: string, secret: string): string | undefined {
  if (/^\d{6,8}$/.test(secret)) return new RegExp(`(?<![\\d])${secret}(?![\\d])`).test(text) ? secret : undefined;
  return formsOf(secret).find((form) => text.includes(form));
}

interface Secret {
  label: string;
  value: string;
  /** The user it belongs to ('' for the server's own). */
  owner: string;
  /** May the owner see it in an answer to their own request (their tokens, their new recovery codes)? */
  ownerMaySee: boolean;
}

/**
 * A whole account life on a server that logs at trace level, with every secret collected on the way: passwords
 * (right and wrong), their bcrypt hashes from the database, access and refresh tokens (body and cookie), the
 * links' tokens from the mails, the TOTP secret, codes, recovery codes, the hashes of stored tokens and the
 * signing keys' private parts. No log line may hold any of them in any form; no answer may hold a hash or a
 * private key; no answer to one user (or to an administrator) may hold another user's tokens or codes.
 */
describe('resilience: no secret in logs or in the wrong answer', function () {
  this.timeout(180_000);
  let app: TestServer;
  const secrets: Secret[] = [];
  const responses: { actor: string; label: string; text: string; headers: string }[] = [];
  const adminEmail = uniqueEmail('leak-admin');
  const A = uniqueEmail('leak-a');
  const B = uniqueEmail('leak-b');
  const C = uniqueEmail('leak-c');

  const keep = (owner: string, label: string, value: string | undefined | null, ownerMaySee = true) => {
    expect(value, label).to.be.a('string').and.not.empty;
    secrets.push({ owner, label, value: value!, ownerMaySee });
  };
  /** A request made by `actor`, its answer kept for the checks at the end. */
  async function call(actor: string, method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const reply = await app.request(method, path, options);
    responses.push({ actor, label: `${method} ${path} → ${reply.status}`, text: reply.text, headers: JSON.stringify([...reply.headers]) });
    return reply;
  }
  const mailFor = async (email: string, subject: RegExp, after: number) => {
    const mail = await app.mail.next(email, { subject, after });
    return mail;
  };
  const codeOf = (mail: CaughtMail) => /(?<!\d)(\d{6})(?!\d)/.exec(mail.text)![1];
  async function totp(secret: string) {
    app.clock.advance(30);
    return generate({ secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
  }
  const cookieToken = (reply: Reply) => decodeURIComponent(refreshCookie(reply.headers)!.split(';')[0].split('=')[1]);
  async function keepPasswordHash(email: string) {
    const user = await app.services.orm.em.fork().findOneOrFail(UserSchema, { email }, { populate: ['passwordHash', 'totpSecret'] });
    keep(email, `password hash of ${email}`, user.passwordHash, false);
    if (user.totpSecret) keep(email, `stored TOTP secret of ${email}`, user.totpSecret);
  }

  before(async () => {
    app = await TestServer.start({ LOG_LEVEL: 'trace', ADMIN_EMAILS: adminEmail, BCRYPT_COST: '4', SIGNING_KEY_PUBLISH_SECONDS: '0' });
  });
  after(() => app?.stop());

  it('runs the journey', async () => {
    // Registration, a resend, verification.
    const passwords = { a1: 'Leak pässword #1 & more', a2: 'Leak pässword #2 / more', a3: 'Leak pässword #3 + more', b: 'B secret passphrase %20', c: 'C pending passphrase', admin: 'Admin passphrase ?x=1' };
    for (const [user, password] of Object.entries(passwords)) keep(user === 'b' ? B : user === 'c' ? C : user === 'admin' ? adminEmail : A, `password ${user}`, password);
    for (const [email, password] of [[A, passwords.a1], [B, passwords.b], [adminEmail, passwords.admin]]) {
      const before = app.mail.mails.length;
      expect((await call(email, 'POST', '/v1/auth/register', { body: { email, password } })).status).to.equal(202);
      const token = tokenFrom(await mailFor(email, /Confirm/, before));
      keep(email, `verification token of ${email}`, token, false);
      expect((await call(email, 'POST', '/v1/auth/verify-email', { body: { token, password } })).status).to.equal(200);
    }
    let before = app.mail.mails.length;
    await call(C, 'POST', '/v1/auth/register', { body: { email: C, password: passwords.c } });
    keep(C, 'first verification token of C', tokenFrom(await mailFor(C, /Confirm/, before)), false);
    before = app.mail.mails.length;
    await call(C, 'POST', '/v1/auth/resend-verification', { body: { email: C } });
    keep(C, 'resent verification token of C', tokenFrom(await mailFor(C, /Confirm/, before)), false);
    const pending = await app.services.orm.em.fork().findOneOrFail(PendingRegistrationSchema, { email: C });
    keep(C, 'pending registration hash of C', pending.passwordHash, false);
    keep(C, 'pending registration token hash of C', pending.tokenHash, false);
    await keepPasswordHash(A);

    // Sign-in: a wrong password, body delivery, cookie delivery; refresh both ways.
    keep(A, 'a wrong password of A', 'Wrong pässword for A!');
    expect((await call(A, 'POST', '/v1/auth/login', { body: { email: A, password: 'Wrong pässword for A!' } })).status).to.equal(401);
    const body = await call(A, 'POST', '/v1/auth/login', { body: { email: A, password: passwords.a1, refreshTokenDelivery: 'body' } });
    keep(A, 'access token (body login)', body.body.accessToken);
    keep(A, 'refresh token (body login)', body.body.refreshToken);
    const cookie = await call(A, 'POST', '/v1/auth/login', { body: { email: A, password: passwords.a1, refreshTokenDelivery: 'cookie' } });
    keep(A, 'access token (cookie login)', cookie.body.accessToken);
    keep(A, 'refresh token (cookie)', cookieToken(cookie));
    const refreshedBody = await call(A, 'POST', '/v1/auth/refresh', { body: { refreshToken: body.body.refreshToken } });
    keep(A, 'refresh token (body, rotated)', refreshedBody.body.refreshToken);
    keep(A, 'access token (body refresh)', refreshedBody.body.accessToken);
    const refreshedCookie = await call(A, 'POST', '/v1/auth/refresh', { headers: { cookie: `pulse_auth_refresh=${cookieToken(cookie)}` } });
    keep(A, 'refresh token (cookie, rotated)', cookieToken(refreshedCookie));
    let token = refreshedBody.body.accessToken as string;
    for (const path of ['/v1/me', '/v1/me/sessions', '/v1/me/login-history', '/v1/me/mfa', '/v1/me/identities']) {
      expect((await call(A, 'GET', path, { token })).status, path).to.equal(200);
    }
    // A replayed refresh token outside the grace window ends that session.
    app.clock.advance(60);
    expect((await call(A, 'POST', '/v1/auth/refresh', { body: { refreshToken: body.body.refreshToken } })).status).to.equal(401);

    // Change password, then forgot / reset.
    const fresh = await call(A, 'POST', '/v1/auth/login', { body: { email: A, password: passwords.a1, refreshTokenDelivery: 'body' } });
    token = fresh.body.accessToken;
    keep(A, 'access token (before change)', token);
    keep(A, 'refresh token (before change)', fresh.body.refreshToken);
    const wrongCurrent = await call(A, 'POST', '/v1/auth/password/change', { token, body: { currentPassword: 'not the current one', newPassword: passwords.a2 } });
    expect(wrongCurrent.status).to.equal(403);
    keep(A, 'wrong current password', 'not the current one');
    expect((await call(A, 'POST', '/v1/auth/password/change', { token, body: { currentPassword: passwords.a1, newPassword: passwords.a2 } })).status).to.equal(204);
    await keepPasswordHash(A);
    before = app.mail.mails.length;
    expect((await call(A, 'POST', '/v1/auth/password/forgot', { body: { email: A } })).status).to.equal(202);
    const resetToken = tokenFrom(await mailFor(A, /reset/i, before));
    keep(A, 'reset token', resetToken, false);
    const storedReset = await app.services.orm.em.fork().find(PasswordResetTokenSchema, {});
    for (const row of storedReset) keep(A, 'stored reset-token hash', row.tokenHash, false);
    const weak = await call(A, 'POST', '/v1/auth/password/reset', { body: { token: resetToken, password: 'password123' } });
    expect(weak.status).to.equal(422);
    expect((await call(A, 'POST', '/v1/auth/password/reset', { body: { token: resetToken, password: passwords.a3 } })).status).to.equal(204);
    expect((await call(A, 'POST', '/v1/auth/password/reset', { body: { token: resetToken, password: passwords.a3 } })).status).to.equal(400);
    await keepPasswordHash(A);

    // TOTP: enrol, confirm, sign in with a code and with a recovery code, new recovery codes.
    let session = await call(A, 'POST', '/v1/auth/login', { body: { email: A, password: passwords.a3, refreshTokenDelivery: 'body' } });
    token = session.body.accessToken;
    keep(A, 'access token (before TOTP)', token);
    keep(A, 'refresh token (before TOTP)', session.body.refreshToken);
    const enrolment = await call(A, 'POST', '/v1/me/mfa/totp', { token, body: { password: passwords.a3 } });
    const totpSecret = enrolment.body.secret as string;
    keep(A, 'TOTP secret', totpSecret);
    const wrongCode = await call(A, 'POST', '/v1/me/mfa/totp/confirm', { token, body: { code: '000000' } });
    expect(wrongCode.status).to.equal(422);
    const confirmCode = await totp(totpSecret);
    keep(A, 'TOTP code (confirm)', confirmCode);
    const confirmed = await call(A, 'POST', '/v1/me/mfa/totp/confirm', { token, body: { code: confirmCode } });
    expect(confirmed.status).to.equal(200);
    const recoveryCodes = confirmed.body.recoveryCodes as string[];
    recoveryCodes.forEach((code, i) => keep(A, `recovery code ${i}`, code));
    await keepPasswordHash(A);
    const challenge = await call(A, 'POST', '/v1/auth/login', { body: { email: A, password: passwords.a3, refreshTokenDelivery: 'cookie' } });
    expect(challenge.body.mfaRequired).to.equal(true);
    const loginCode = await totp(totpSecret);
    keep(A, 'TOTP code (sign-in)', loginCode);
    const verified = await call(A, 'POST', '/v1/auth/mfa/verify', { body: { challengeId: challenge.body.challengeId, code: loginCode, method: 'totp' } });
    expect(verified.status, verified.text).to.equal(200);
    keep(A, 'access token (TOTP)', verified.body.accessToken);
    keep(A, 'refresh token (TOTP, cookie)', cookieToken(verified));
    const challenge2 = await call(A, 'POST', '/v1/auth/login', { body: { email: A, password: passwords.a3, refreshTokenDelivery: 'body' } });
    const byRecovery = await call(A, 'POST', '/v1/auth/mfa/verify', { body: { challengeId: challenge2.body.challengeId, code: recoveryCodes[0], method: 'recovery-code' } });
    expect(byRecovery.status, byRecovery.text).to.equal(200);
    keep(A, 'access token (recovery code)', byRecovery.body.accessToken);
    keep(A, 'refresh token (recovery code)', byRecovery.body.refreshToken);
    token = byRecovery.body.accessToken;
    const storedCodes = await app.services.orm.em.fork().find(RecoveryCodeSchema, {});
    for (const row of storedCodes) keep(A, 'stored recovery-code hash', row.codeHash, false);
    const regenerated = await call(A, 'POST', '/v1/me/mfa/recovery-codes', { token, body: { password: passwords.a3 } });
    expect(regenerated.status, regenerated.text).to.equal(200);
    (regenerated.body.recoveryCodes as string[]).forEach((code, i) => keep(A, `new recovery code ${i}`, code));

    // Email codes as a second factor.
    expect((await call(A, 'PUT', '/v1/me/mfa/email', { token, body: { password: passwords.a3 } })).status).to.be.oneOf([200, 204]);
    await app.services.mailer.idle();
    before = app.mail.mails.length;
    const emailChallenge = await call(A, 'POST', '/v1/auth/login', { body: { email: A, password: passwords.a3, refreshTokenDelivery: 'body' } });
    expect(emailChallenge.body.methods).to.include('email');
    const emailCode = codeOf(await mailFor(A, /code/i, before));
    keep(A, 'email code', emailCode, false);
    const byEmail = await call(A, 'POST', '/v1/auth/mfa/verify', { body: { challengeId: emailChallenge.body.challengeId, code: emailCode, method: 'email' } });
    expect(byEmail.status, byEmail.text).to.equal(200);
    keep(A, 'access token (email code)', byEmail.body.accessToken);
    keep(A, 'refresh token (email code)', byEmail.body.refreshToken);

    // Sign-out: one session, then everywhere.
    expect((await call(A, 'POST', '/v1/auth/logout', { body: { refreshToken: byEmail.body.refreshToken } })).status).to.equal(204);
    expect((await call(A, 'POST', '/v1/auth/logout-all', { token: byRecovery.body.accessToken })).status).to.equal(204);
    expect((await call(A, 'GET', '/v1/me', { token: byRecovery.body.accessToken })).status).to.equal(401);

    // B signs in and looks at its own account.
    const bSession = await call(B, 'POST', '/v1/auth/login', { body: { email: B, password: passwords.b, refreshTokenDelivery: 'body' } });
    keep(B, 'access token of B', bSession.body.accessToken);
    keep(B, 'refresh token of B', bSession.body.refreshToken);
    for (const path of ['/v1/me', '/v1/me/sessions', '/v1/me/login-history']) await call(B, 'GET', path, { token: bSession.body.accessToken });
    await keepPasswordHash(B);

    // An administrator looks at A, locks and unlocks it, lists everything, rotates the signing key.
    const adminSession = await call(adminEmail, 'POST', '/v1/auth/login', { body: { email: adminEmail, password: passwords.admin, refreshTokenDelivery: 'body' } });
    const adminToken = adminSession.body.accessToken as string;
    keep(adminEmail, 'access token of the admin', adminToken);
    keep(adminEmail, 'refresh token of the admin', adminSession.body.refreshToken);
    const userA = (await call(adminEmail, 'GET', `/v1/admin/users?email=${encodeURIComponent(A)}`, { token: adminToken })).body;
    const idA = (userA.items ?? []).find((item: { email: string }) => item.email === A)?.id ?? byEmail.body.user.id;
    for (const path of [
      '/v1/admin/users',
      `/v1/admin/users/${idA}`,
      `/v1/admin/users/${idA}/sessions`,
      '/v1/admin/login-attempts',
      '/v1/admin/audit-events?limit=100',
      '/v1/admin/blocked-ips',
    ]) {
      expect((await call(adminEmail, 'GET', path, { token: adminToken })).status, path).to.equal(200);
    }
    expect((await call(adminEmail, 'PATCH', `/v1/admin/users/${idA}`, { token: adminToken, body: { locked: true } })).status).to.equal(200);
    expect((await call(adminEmail, 'PATCH', `/v1/admin/users/${idA}`, { token: adminToken, body: { locked: false } })).status).to.equal(200);
    expect((await call(adminEmail, 'POST', '/v1/admin/signing-keys/rotate', { token: adminToken })).status).to.equal(200);
    expect((await call(adminEmail, 'POST', '/v1/admin/maintenance/cleanup', { token: adminToken })).status).to.equal(200);
    await keepPasswordHash(adminEmail);

    // What the database keeps: hashes of every refresh token, the signing keys' private parts.
    const em = app.services.orm.em.fork();
    for (const row of await em.find(RefreshTokenSchema, {})) keep('', 'stored refresh-token hash', row.tokenHash, false);
    for (const row of await em.find(SigningKeySchema, {}, { populate: ['privateJwk'] })) {
      const jwk = row.privateJwk as JWK;
      keep('', `private key d of ${row.kid}`, jwk.d, false);
    }
    await app.services.mailer.idle();
    expect(secrets.length).to.be.above(60);
  });

  it('finds a secret in each of its forms (the check itself works)', () => {
    const secret = 'Leak pässword #1 & more';
    for (const text of [
      `{"msg":"${secret}"}`,
      `GET /x?p=${encodeURIComponent(secret)} HTTP/1.1`,
      `"auth":"Basic ${Buffer.from(`user:${secret}`).toString('base64')}"`,
      `"cookie":"${Buffer.from(secret).toString('base64url')}"`,
      `"hash":"${'$2b$04$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNO'.slice(7)}"`,
    ]) {
      const value = text.includes('$2b$') || text.includes('"hash"') ? '$2b$04$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNO' : secret;
      expect(findSecret(text, value), text).to.be.a('string');
    }
    expect(findSecret('"time":1795314598254123', '314598')).to.equal(undefined);
    expect(findSecret('"code":"314598"', '314598')).to.equal('314598');
  });

  it('logged no secret, in any form, at trace level', () => {
    const logs = app.logText();
    expect(app.logs.length, 'the journey was logged').to.be.at.least(responses.length);
    expect(app.services.logger.isLevelEnabled('trace'), 'everything the app can log was logged').to.equal(true);
    const found = secrets.map((secret) => ({ secret, form: findSecret(logs, secret.value) })).filter(({ form }) => form);
    expect(
      found.map(({ secret, form }) => `${secret.label} (${form === secret.value ? 'as is' : 'encoded'}): ${app.logs.find((line) => line.includes(form!))?.slice(0, 300)}`),
    ).to.deep.equal([]);
  });

  it('answered no hash, stored-token hash or private key, to anyone', () => {
    const forbidden = secrets.filter((secret) => /hash|private key/.test(secret.label));
    expect(forbidden.length).to.be.above(10);
    for (const response of responses) {
      for (const secret of forbidden) {
        expect(findSecret(response.text + response.headers, secret.value), `${secret.label} in ${response.label}`).to.equal(undefined);
      }
    }
  });

  it("answered no user's tokens, codes or mailed links to another user or an administrator", () => {
    let checked = 0;
    for (const response of responses) {
      for (const secret of secrets) {
        if (!secret.owner || /hash|private key/.test(secret.label)) continue;
        if (secret.owner === response.actor && secret.ownerMaySee) continue;
        checked++;
        expect(findSecret(response.text + response.headers, secret.value), `${secret.label} (of ${secret.owner}) in ${response.label} to ${response.actor}`).to.equal(undefined);
      }
    }
    expect(checked).to.be.above(1000);
  });
});
