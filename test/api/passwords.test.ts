import { expect } from 'chai';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { failWith } from '../helpers/assertions.js';

describe('passwords (forgotPassword, resetPassword, changePassword)', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start();
  });
  after(() => app.stop());

  async function resetLink(email: string) {
    const before = app.mail.mails.length;
    const reply = await app.request('POST', '/v1/auth/password/forgot', { body: { email } });
    expect(reply.status).to.equal(202);
    const mail = await app.mail.next(email, { subject: /Reset/, after: before });
    expect(mail.text).to.contain('http://app.test/reset-password?token=');
    return tokenFrom(mail);
  }

  describe('forgotPassword and resetPassword', () => {
    it('resets the password with a mailed link that works once; old sessions and the old password fail', async () => {
      const account = await app.createUser();
      const session = await app.login(account.email, account.password);
      const token = await resetLink(account.email);

      const before = app.mail.mails.length;
      const reset = await app.request('POST', '/v1/auth/password/reset', { body: { token, password: 'a brand new passphrase' } });
      expect(reset.status).to.equal(204);

      expect((await app.request('GET', '/v1/me', { token: session.accessToken })).status).to.equal(401);
      expect((await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: session.refreshToken } })).status).to.equal(401);
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } })).status).to.equal(401);
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'a brand new passphrase' } })).status).to.equal(200);

      const again = await app.request('POST', '/v1/auth/password/reset', { body: { token, password: 'yet another passphrase' } });
      failWith(again, 400, 'invalid-reset-token');

      const notice = await app.mail.next(account.email, { subject: /password was changed/, after: before });
      expect(notice.text).to.contain('reset');
    });

    it('refuses an expired link', async () => {
      const account = await app.createUser();
      const token = await resetLink(account.email);
      app.clock.advance(app.services.config.RESET_TTL + 1);
      const reply = await app.request('POST', '/v1/auth/password/reset', { body: { token, password: 'a brand new passphrase' } });
      failWith(reply, 400, 'invalid-reset-token');
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } })).status).to.equal(200);
    });

    it('retires earlier links when a new one is asked for', async () => {
      const account = await app.createUser();
      const first = await resetLink(account.email);
      const second = await resetLink(account.email);
      expect((await app.request('POST', '/v1/auth/password/reset', { body: { token: first, password: 'a brand new passphrase' } })).status).to.equal(400);
      expect((await app.request('POST', '/v1/auth/password/reset', { body: { token: second, password: 'a brand new passphrase' } })).status).to.equal(204);
    });

    it('lets exactly one of 20 concurrent uses of one link succeed', async () => {
      const account = await app.createUser();
      const token = await resetLink(account.email);
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) => app.request('POST', '/v1/auth/password/reset', { body: { token, password: `new passphrase number ${i}` } })),
      );
      const winners = replies.map((reply, i) => ({ reply, i })).filter(({ reply }) => reply.status === 204);
      expect(winners).to.have.length(1);
      expect(replies.filter((r) => r.status === 400)).to.have.length(19);
      const password = `new passphrase number ${winners[0].i}`;
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password } })).status).to.equal(200);
    });

    it('answers known and unknown emails alike, and mails only the known one', async () => {
      const account = await app.createUser();
      const unknownEmail = uniqueEmail();
      const known = await app.request('POST', '/v1/auth/password/forgot', { body: { email: account.email } });
      const unknown = await app.request('POST', '/v1/auth/password/forgot', { body: { email: unknownEmail } });
      expect(known.status).to.equal(202);
      expect(unknown.status).to.equal(202);
      expect(known.body).to.deep.equal(unknown.body);
      await app.mail.next(account.email, { subject: /Reset/ });
      await app.services.mailer.idle();
      expect(app.mail.count(unknownEmail)).to.equal(0);
    });

    it('enforces the password policy on the new password and keeps the link usable', async () => {
      const account = await app.createUser();
      const token = await resetLink(account.email);
      const weak = await app.request('POST', '/v1/auth/password/reset', { body: { token, password: 'password1' } });
      failWith(weak, 422, 'weak-password');
      expect((await app.request('POST', '/v1/auth/password/reset', { body: { token, password: 'a brand new passphrase' } })).status).to.equal(204);
    });
  });

  describe('changePassword', () => {
    it('needs the current password, keeps only the caller\'s session and mails the owner', async () => {
      const account = await app.createUser();
      const mine = await app.login(account.email, account.password);
      const other = await app.login(account.email, account.password);

      const missing = await app.request('POST', '/v1/auth/password/change', { token: mine.accessToken, body: { newPassword: 'a brand new passphrase' } });
      failWith(missing, 403, 'current-password-incorrect');
      const wrong = await app.request('POST', '/v1/auth/password/change', {
        token: mine.accessToken,
        body: { currentPassword: 'not it at all', newPassword: 'a brand new passphrase' },
      });
      expect(wrong.status).to.equal(403);

      const before = app.mail.mails.length;
      const changed = await app.request('POST', '/v1/auth/password/change', {
        token: mine.accessToken,
        body: { currentPassword: account.password, newPassword: 'a brand new passphrase' },
      });
      expect(changed.status).to.equal(204);
      expect((await app.request('GET', '/v1/me', { token: mine.accessToken })).status).to.equal(200);
      expect((await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: mine.refreshToken } })).status).to.equal(200);
      expect((await app.request('GET', '/v1/me', { token: other.accessToken })).status).to.equal(401);
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'a brand new passphrase' } })).status).to.equal(200);
      await app.mail.next(account.email, { subject: /password was changed/, after: before });
    });

    it('enforces the password policy', async () => {
      const account = await app.createUser();
      const { accessToken } = await app.login(account.email, account.password);
      const reply = await app.request('POST', '/v1/auth/password/change', {
        token: accessToken,
        body: { currentPassword: account.password, newPassword: '12345678' },
      });
      expect(reply.status).to.equal(422);
      expect(reply.body.errors[0].pointer).to.equal('/body/newPassword');
    });
  });
});
