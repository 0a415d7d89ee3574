import { expect } from 'chai';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { failWith } from '../helpers/assertions.js';

/**
 * Whoever registers chooses the display name, and the address is not theirs yet (issue 14.10): the name must not
 * put their words into mail to it, and it may not carry control characters (line breaks that fake a paragraph).
 */
describe('the display name and mail to unproven addresses', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start();
  });
  after(() => app.stop());

  const PHISHING = 'Ada. Your bank account is suspended, confirm your card at https://evil.example/unlock';

  it('Phishing through the display name: the verification mail and a resent one carry no part of the name chosen at register', async () => {
    const email = uniqueEmail('phished');
    const before = app.mail.mails.length;
    const registered = await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase', name: PHISHING } });
    expect(registered.status).to.equal(202);
    const first = await app.mail.next(email, { subject: /Confirm/, after: before });

    const resent = await app.request('POST', '/v1/auth/resend-verification', { body: { email } });
    expect(resent.status).to.equal(202);
    const second = await app.mail.next(email, { subject: /Confirm/, after: app.mail.mails.indexOf(first) + 1 });

    for (const mail of [first, second]) {
      for (const part of [mail.subject, mail.text, mail.html]) {
        expect(part).not.to.contain('evil.example');
        expect(part).not.to.contain('suspended');
        expect(part).not.to.contain('Ada');
      }
    }
    // The name is kept for the account, once the address is proven.
    const verified = await app.request('POST', '/v1/auth/verify-email', { body: { token: tokenFrom(second), password: 'a perfectly fine passphrase' } });
    expect(verified.status).to.equal(200);
    expect(verified.body.name).to.equal(PHISHING);
  });

  it('Phishing through the display name: a name with line breaks or other control characters is refused at register and updateMe', async () => {
    const names = ['Ada\n\nYour account is suspended: https://evil.example/unlock', 'Ada\r\nBcc: x@evil.example', 'Ada\u0007', 'Ada\u0085Lovelace'];
    for (const name of names) {
      const registered = await app.request('POST', '/v1/auth/register', { body: { email: uniqueEmail(), password: 'a perfectly fine passphrase', name } });
      failWith(registered, 400, 'validation-failed', JSON.stringify(name));
      expect(registered.body.errors.map((error: { pointer: string }) => error.pointer)).to.deep.equal(['/body/name']);
    }
    const account = await app.createUser();
    const { accessToken } = await app.login(account.email, account.password);
    for (const name of names) {
      const updated = await app.request('PATCH', '/v1/me', { token: accessToken, body: { name } });
      expect(updated.status, JSON.stringify(name)).to.equal(400);
      expect(updated.body.errors.map((error: { pointer: string }) => error.pointer)).to.deep.equal(['/body/name']);
    }
    // Names in any script, with emoji, joiners and direction marks, are fine.
    for (const name of ['Ada Lovelace', 'Zoë Ångström-Łukasiewicz', '李小龍', 'محمد\u200f', 'Family 👨\u200d👩\u200d👧']) {
      const updated = await app.request('PATCH', '/v1/me', { token: accessToken, body: { name } });
      expect(updated.status, name).to.equal(200);
      expect(updated.body.name).to.equal(name);
    }
  });
});
