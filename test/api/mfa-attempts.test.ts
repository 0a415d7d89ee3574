import { expect } from 'chai';
import { generate, generateSync } from 'otplib';
import { MfaChallengeSchema, UserSchema } from '../../src/db/entities.js';
import { newTotpSecret } from '../../src/domain/mfa/totp.js';
import { TestServer, type Reply } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

/**
 * Guessing second factors: the per-challenge cap must hold under concurrency, and wrong codes count toward the
 * account lockout like wrong passwords do, so that signing in again (the password is known) does not buy fresh
 * guesses.
 */
describe('MFA guessing (verifyMfa)', () => {
  /** An account with an authenticator app on, set up in the database (how it was enrolled is not the point here). */
  async function withTotp(app: TestServer) {
    const account = await app.createUser();
    const secret = newTotpSecret();
    await app.services.orm.em.fork().nativeUpdate(UserSchema, { email: account.email }, { totpSecret: secret, totpEnabledAt: app.clock.now() });
    return { ...account, secret };
  }

  const challengeOf = async (app: TestServer, account: { email: string; password: string }) => {
    const login = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password, refreshTokenDelivery: 'body' } });
    expect(login.status, login.text).to.equal(200);
    expect(login.body.mfaRequired).to.equal(true);
    return login.body.challengeId as string;
  };

  const verify = (app: TestServer, challengeId: string, code: string) =>
    app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId, code, method: 'totp' } });

  /** Codes that no TOTP check of this secret accepts now (the current step and one either side are valid). */
  function wrongCodes(app: TestServer, secret: string, count: number): string[] {
    const epoch = Math.floor(app.clock.now().getTime() / 1000);
    const valid = new Set([-30, 0, 30, 60].map((shift) => generateSync({ secret, epoch: epoch + shift })));
    const codes: string[] = [];
    for (let n = 0; codes.length < count; n += 1) {
      const code = String(n * 7919).padStart(6, '0').slice(-6);
      if (!valid.has(code)) codes.push(code);
    }
    return codes;
  }

  describe('the cap per challenge', () => {
    let app: TestServer;
    before(async () => {
      // The account lockout is out of the way here: this is about the challenge's own cap.
      app = await TestServer.start({ MFA_MAX_ATTEMPTS: '5', LOCKOUT_ACCOUNT_THRESHOLD: '1000', LOCKOUT_IP_THRESHOLD: '1000' });
    });
    after(() => app.stop());

    it('MFA brute force by concurrency: 29 wrong codes and the right one sent together never pass the cap', async () => {
      const account = await withTotp(app);
      const challengeId = await challengeOf(app, account);
      const right = await generate({ secret: account.secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
      const codes = [...wrongCodes(app, account.secret, 29), right];
      const replies: Reply[] = await Promise.all(codes.map((code) => verify(app, challengeId, code)));

      // A code was checked when its answer is 200 or "wrong, n tries left"; the fifth wrong one spends the challenge.
      const wrongAnswers = replies.filter((reply) => reply.body?.code === 'invalid-mfa-code');
      const signedIn = replies.filter((reply) => reply.status === 200);
      expect(wrongAnswers.length, wrongAnswers.map((reply) => reply.body.detail).join(' | ')).to.be.at.most(4);
      expect(wrongAnswers.length + signedIn.length).to.be.at.most(5);
      // Each checked wrong code saw its own count: no two say the same number of tries left.
      expect(new Set(wrongAnswers.map((reply) => reply.body.detail)).size).to.equal(wrongAnswers.length);
      for (const reply of replies) if (reply.status !== 200) expect(reply.body.code).to.be.oneOf(['invalid-mfa-code', 'mfa-challenge-invalid']);
      const stored = await app.services.orm.em.fork().findOneOrFail(MfaChallengeSchema, { id: challengeId });
      expect(stored.attempts).to.be.at.most(5);
    });
  });

  describe('the account lockout', () => {
    let app: TestServer;
    before(async () => {
      app = await TestServer.start({
        MFA_MAX_ATTEMPTS: '3',
        LOCKOUT_ACCOUNT_THRESHOLD: '5',
        LOCKOUT_ACCOUNT_SECONDS: '900',
        LOCKOUT_IP_THRESHOLD: '1000',
      });
    });
    after(() => app.stop());

    it('MFA brute force by restarting challenges: wrong codes count toward the account lockout, and a new sign-in with the password does not reset them', async () => {
      const account = await withTotp(app);
      const before = app.mail.mails.length;
      // Three wrong codes spend the first challenge; the password opens a second one; two more wrong codes make five.
      const first = await challengeOf(app, account);
      for (const code of wrongCodes(app, account.secret, 3)) expect((await verify(app, first, code)).status).to.equal(401);
      const second = await challengeOf(app, account);
      for (const code of wrongCodes(app, account.secret, 2)) expect((await verify(app, second, code)).status).to.equal(401);

      // The account is now locked: the right password gets no new challenge, and the right code no session.
      const locked = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } });
      failWith(locked, 429, 'too-many-failed-attempts');
      const right = await generate({ secret: account.secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
      const late = await verify(app, second, right);
      failWith(late, 429, 'too-many-failed-attempts');
      await app.mail.next(account.email, { subject: /locked/, after: before });
    });

    it('a completed second factor clears the count', async () => {
      const account = await withTotp(app);
      const first = await challengeOf(app, account);
      for (const code of wrongCodes(app, account.secret, 2)) await verify(app, first, code);
      const right = await generate({ secret: account.secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
      expect((await verify(app, first, right)).status).to.equal(200);
      // Four more failures do not lock: the count started again.
      const second = await challengeOf(app, account);
      for (const code of wrongCodes(app, account.secret, 3)) expect((await verify(app, second, code)).status).to.equal(401);
      const third = await challengeOf(app, account);
      expect((await verify(app, third, wrongCodes(app, account.secret, 1)[0])).body.code).to.equal('invalid-mfa-code');
    });
  });
});
