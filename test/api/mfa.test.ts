import { expect } from 'chai';
import { generate } from 'otplib';
import { TestServer } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

describe('multi-factor sign-in', () => {
  let app: TestServer;
  before(async () => {
    // Wrong codes count toward the account lockout too (mfa-attempts.test.ts); here they test the challenge alone.
    app = await TestServer.start({ MFA_CHALLENGE_TTL: '300', MFA_MAX_ATTEMPTS: '5', LOCKOUT_ACCOUNT_THRESHOLD: '100' });
  });
  after(() => app.stop());

  /** The code the authenticator app shows now (by the server's clock), moving the clock to a fresh step first. */
  async function codeFor(secret: string) {
    app.clock.advance(30);
    return generate({ secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
  }

  async function enrolled() {
    const account = await app.createUser();
    const { accessToken } = await app.login(account.email, account.password);
    const enrolment = await app.request('POST', '/v1/me/mfa/totp', { token: accessToken, body: { password: account.password } });
    expect(enrolment.status).to.equal(200);
    const { secret } = enrolment.body;
    const confirmed = await app.request('POST', '/v1/me/mfa/totp/confirm', { token: accessToken, body: { code: await codeFor(secret) } });
    expect(confirmed.status).to.equal(200);
    return { ...account, accessToken, secret, recoveryCodes: confirmed.body.recoveryCodes as string[] };
  }

  const startLogin = (account: { email: string; password: string }, delivery: 'body' | 'cookie' = 'body') =>
    app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password, refreshTokenDelivery: delivery } });

  describe('enrolling an authenticator app', () => {
    it('gives a secret and an otpauth URI, and turns TOTP on only after a valid code', async () => {
      const account = await app.createUser();
      const { accessToken } = await app.login(account.email, account.password);
      const enrolment = await app.request('POST', '/v1/me/mfa/totp', { token: accessToken, body: { password: account.password } });
      expect(enrolment.body.secret).to.match(/^[A-Z2-7]{32}$/);
      expect(enrolment.body.otpauthUri).to.match(/^otpauth:\/\/totp\/Pulse%20Auth:/).and.contain(`secret=${enrolment.body.secret}`);
      expect((await app.request('GET', '/v1/me/mfa', { token: accessToken })).body).to.deep.equal({
        totpEnabled: false,
        emailOtpEnabled: false,
        recoveryCodesRemaining: 0,
        passkeys: 0,
      });
      // Not on yet: sign-in still gives tokens.
      expect((await startLogin(account)).body).to.have.property('accessToken');

      const wrong = await app.request('POST', '/v1/me/mfa/totp/confirm', { token: accessToken, body: { code: '000000' } });
      failWith(wrong, 422, 'invalid-totp-code');

      const confirmed = await app.request('POST', '/v1/me/mfa/totp/confirm', { token: accessToken, body: { code: await codeFor(enrolment.body.secret) } });
      expect(confirmed.status).to.equal(200);
      expect(confirmed.body.recoveryCodes).to.have.length(10);
      expect(new Set(confirmed.body.recoveryCodes).size).to.equal(10);
      expect((await app.request('GET', '/v1/me/mfa', { token: accessToken })).body).to.include({ totpEnabled: true, recoveryCodesRemaining: 10 });

      const again = await app.request('POST', '/v1/me/mfa/totp', { token: accessToken, body: { password: account.password } });
      failWith(again, 409, 'totp-already-enabled');
    });

    it('refuses to confirm without an enrolment', async () => {
      const account = await app.createUser();
      const { accessToken } = await app.login(account.email, account.password);
      const reply = await app.request('POST', '/v1/me/mfa/totp/confirm', { token: accessToken, body: { code: '123456' } });
      failWith(reply, 409, 'totp-not-enabled');
    });
  });

  describe('signing in with TOTP on', () => {
    it('answers login with a challenge and no tokens, then signs in with a code from the app', async () => {
      const account = await enrolled();
      const login = await startLogin(account);
      expect(login.status).to.equal(200);
      expect(login.body).to.include({ mfaRequired: true });
      expect(login.body.methods).to.deep.equal(['totp', 'recovery-code']);
      expect(login.body).not.to.have.property('accessToken');
      expect(login.headers.getSetCookie()).to.deep.equal([]);

      const verified = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: login.body.challengeId, code: await codeFor(account.secret) } });
      expect(verified.status).to.equal(200);
      expect(verified.body.refreshToken).to.be.a('string'); // delivered as asked at login
      expect((await app.request('GET', '/v1/me', { token: verified.body.accessToken })).status).to.equal(200);

      const history = await app.request('GET', '/v1/me/login-history', { token: verified.body.accessToken });
      expect(history.body.items[0].method).to.equal('totp');
    });

    it('refuses a wrong code, saying how many tries are left, and a code used before', async () => {
      const account = await enrolled();
      const first = await startLogin(account);
      const wrong = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: first.body.challengeId, code: '000000', method: 'totp' } });
      failWith(wrong, 401, 'invalid-mfa-code');
      expect(wrong.body.detail).to.match(/4 tries left/);

      const code = await codeFor(account.secret);
      expect((await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: first.body.challengeId, code } })).status).to.equal(200);
      const second = await startLogin(account);
      const replay = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: second.body.challengeId, code } });
      failWith(replay, 401, 'invalid-mfa-code');
    });

    it('signs in with a recovery code once', async () => {
      const account = await enrolled();
      const [code] = account.recoveryCodes;
      const first = await startLogin(account);
      const used = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: first.body.challengeId, code: code.toLowerCase() } });
      expect(used.status).to.equal(200);
      expect((await app.request('GET', '/v1/me/mfa', { token: used.body.accessToken })).body.recoveryCodesRemaining).to.equal(9);

      const second = await startLogin(account);
      const again = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: second.body.challengeId, code, method: 'recovery-code' } });
      expect(again.status).to.equal(401);
    });

    it('spends a challenge after too many wrong codes, and when it expires', async () => {
      const account = await enrolled();
      const locked = await startLogin(account);
      for (let i = 0; i < 5; i += 1) {
        await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: locked.body.challengeId, code: '000000' } });
      }
      const afterLock = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: locked.body.challengeId, code: await codeFor(account.secret) } });
      failWith(afterLock, 401, 'mfa-challenge-invalid');

      const expiring = await startLogin(account);
      app.clock.advance(301);
      const late = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: expiring.body.challengeId, code: await codeFor(account.secret) } });
      expect(late.body.code).to.equal('mfa-challenge-invalid');
    });

    it('lets one of several concurrent uses of a challenge through', async () => {
      const account = await enrolled();
      const login = await startLogin(account);
      const code = await codeFor(account.secret);
      const replies = await Promise.all(
        Array.from({ length: 5 }, () => app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: login.body.challengeId, code } })),
      );
      expect(replies.filter((r) => r.status === 200)).to.have.length(1);
    });
  });

  describe('email codes', () => {
    it('mails a 6-digit code at sign-in that completes it once', async () => {
      const account = await app.createUser();
      const { accessToken } = await app.login(account.email, account.password);
      const enabled = await app.request('PUT', '/v1/me/mfa/email', { token: accessToken, body: { password: account.password } });
      expect(enabled.body).to.include({ emailOtpEnabled: true });

      const before = app.mail.mails.length;
      const login = await startLogin(account, 'cookie');
      expect(login.body.methods).to.deep.equal(['email']);
      const mail = await app.mail.next(account.email, { subject: /sign-in code/, after: before });
      expect(mail.subject).not.to.match(/\d{6}/);
      const code = /\b(\d{6})\b/.exec(mail.text)![1];

      const verified = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: login.body.challengeId, code } });
      expect(verified.status).to.equal(200);
      expect(verified.body).not.to.have.property('refreshToken');
      expect(verified.headers.getSetCookie().some((c) => c.startsWith('pulse_auth_refresh='))).to.equal(true);
      const replay = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: login.body.challengeId, code } });
      expect(replay.body.code).to.equal('mfa-challenge-invalid');
    });

    it('does not accept the code of another challenge', async () => {
      const account = await app.createUser();
      const { accessToken } = await app.login(account.email, account.password);
      await app.request('PUT', '/v1/me/mfa/email', { token: accessToken, body: { password: account.password } });
      const before = app.mail.mails.length;
      const first = await startLogin(account);
      const firstCode = /\b(\d{6})\b/.exec((await app.mail.next(account.email, { subject: /sign-in code/, after: before })).text)![1];
      const second = await startLogin(account);
      const reply = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: second.body.challengeId, code: firstCode, method: 'email' } });
      expect(reply.status).to.equal(401);
      expect(first.body.challengeId).not.to.equal(second.body.challengeId);
    });
  });

  describe('turning factors off and replacing recovery codes', () => {
    it('needs the password or a current code to turn TOTP off', async () => {
      const account = await enrolled();
      const none = await app.request('DELETE', '/v1/me/mfa/totp', { token: account.accessToken, body: {} });
      failWith(none, 403, 'reauthentication-required');
      const wrong = await app.request('DELETE', '/v1/me/mfa/totp', { token: account.accessToken, body: { password: 'not the password' } });
      expect(wrong.status).to.equal(403);
      const withCode = await app.request('DELETE', '/v1/me/mfa/totp', { token: account.accessToken, body: { code: await codeFor(account.secret) } });
      expect(withCode.status).to.equal(204);
      expect((await app.request('GET', '/v1/me/mfa', { token: account.accessToken })).body).to.include({ totpEnabled: false, recoveryCodesRemaining: 0 });
      expect((await startLogin(account)).body).to.have.property('accessToken');
    });

    it('turns email codes off with the password', async () => {
      const account = await app.createUser();
      const { accessToken } = await app.login(account.email, account.password);
      await app.request('PUT', '/v1/me/mfa/email', { token: accessToken, body: { password: account.password } });
      expect((await app.request('DELETE', '/v1/me/mfa/email', { token: accessToken, body: { password: account.password } })).status).to.equal(204);
      expect((await startLogin(account)).body).to.have.property('accessToken');
    });

    it('replaces the recovery codes: the old ones stop working', async () => {
      const account = await enrolled();
      const replaced = await app.request('POST', '/v1/me/mfa/recovery-codes', { token: account.accessToken, body: { password: account.password } });
      expect(replaced.status).to.equal(200);
      expect(replaced.body.recoveryCodes).to.have.length(10);
      const login = await startLogin(account);
      const old = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: login.body.challengeId, code: account.recoveryCodes[0] } });
      expect(old.status).to.equal(401);
      const fresh = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: login.body.challengeId, code: replaced.body.recoveryCodes[0] } });
      expect(fresh.status).to.equal(200);
    });

    it('refuses recovery codes without an authenticator app', async () => {
      const account = await app.createUser();
      const { accessToken } = await app.login(account.email, account.password);
      const reply = await app.request('POST', '/v1/me/mfa/recovery-codes', { token: accessToken, body: { password: account.password } });
      failWith(reply, 409, 'totp-not-enabled');
    });
  });
});
