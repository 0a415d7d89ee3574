import { expect } from 'chai';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { failWith } from '../helpers/assertions.js';

/**
 * Who a lockout locks out. Failures count per email and client (LOCKOUT_ACCOUNT_THRESHOLD: that client is locked
 * out of that email) and per email from every client together (LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD, higher: the email is
 * locked for everyone), so that a stranger's five wrong passwords do not lock the owner out, while guesses spread
 * over many clients still meet a limit. A password reset proves control of the mailbox and lifts the lock.
 */
describe('account lockout: who is locked out', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start({
      TRUST_PROXY: 'true',
      LOCKOUT_ACCOUNT_THRESHOLD: '5',
      LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD: '8',
      LOCKOUT_ACCOUNT_SECONDS: '900',
      LOCKOUT_IP_THRESHOLD: '1000',
    });
  });
  after(() => app.stop());

  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  const login = (email: string, password: string, ip: string) => app.request('POST', '/v1/auth/login', { body: { email, password }, headers: from(ip) });

  async function resetPassword(email: string, password: string, ip: string) {
    const before = app.mail.mails.length;
    expect((await app.request('POST', '/v1/auth/password/forgot', { body: { email }, headers: from(ip) })).status).to.equal(202);
    const token = tokenFrom(await app.mail.next(email, { subject: /Reset/, after: before }));
    expect((await app.request('POST', '/v1/auth/password/reset', { body: { token, password }, headers: from(ip) })).status).to.equal(204);
  }

  it('account lockout denial of service: five wrong passwords from a stranger lock the stranger out, not the owner signing in from elsewhere', async () => {
    const account = await app.createUser();
    for (let i = 0; i < 5; i += 1) expect((await login(account.email, `wrong guess ${i}`, '203.0.113.66')).status).to.equal(401);
    const stranger = await login(account.email, account.password, '203.0.113.66');
    failWith(stranger, 429, 'too-many-failed-attempts');
    expect((await login(account.email, account.password, '198.51.100.7')).status, 'the owner, elsewhere').to.equal(200);
  });

  it('distributed guessing: wrong passwords spread over many clients lock the email for everyone at the global threshold, known or not', async () => {
    const account = await app.createUser();
    const unknown = uniqueEmail('nobody');
    const spray = (email: string, base: number) =>
      Promise.all(Array.from({ length: 20 }, (_, i) => login(email, `wrong guess ${i}`, `192.0.2.${base + i}`)));
    const [known, missing] = [await spray(account.email, 10), await spray(unknown, 40)];
    // Parallel guesses cannot slip past the global threshold.
    expect(known.filter((reply) => reply.status === 401).length).to.be.at.most(8);
    expect(missing.filter((reply) => reply.status === 401).length).to.be.at.most(8);
    const a = await login(account.email, account.password, '198.51.100.8');
    const b = await login(unknown, 'whatever it is', '198.51.100.8');
    expect(a.status).to.equal(429);
    expect(b.status).to.equal(429);
    const strip = ({ requestId, detail, ...rest }: Record<string, unknown>) => rest;
    expect(strip(a.body)).to.deep.equal(strip(b.body));
  });

  it('lockout outlives a password reset: a successful reset lifts the lock of the owner who made it', async () => {
    const account = await app.createUser();
    // The owner's own typos lock the owner's device.
    for (let i = 0; i < 5; i += 1) await login(account.email, `wrong guess ${i}`, '198.51.100.9');
    expect((await login(account.email, account.password, '198.51.100.9')).status).to.equal(429);
    await resetPassword(account.email, 'a brand new passphrase', '198.51.100.9');
    expect((await login(account.email, 'a brand new passphrase', '198.51.100.9')).status).to.equal(200);
  });

  it('lockout outlives a password reset: a reset also lifts a lock for everyone, while the guessing clients stay counted', async () => {
    const account = await app.createUser();
    for (let i = 0; i < 8; i += 1) await login(account.email, `wrong guess ${i}`, i < 5 ? '203.0.113.77' : `203.0.113.${80 + i}`);
    expect((await login(account.email, account.password, '198.51.100.10')).status).to.equal(429);
    await resetPassword(account.email, 'another new passphrase', '198.51.100.10');
    expect((await login(account.email, 'another new passphrase', '198.51.100.10')).status).to.equal(200);
    // The client that made five of the guesses is still locked out.
    expect((await login(account.email, 'another new passphrase', '203.0.113.77')).status).to.equal(429);
  });
});
