import { expect } from 'chai';
import { LoginAttemptSchema } from '../../src/db/entities.js';
import { TestServer, uniqueEmail } from '../helpers/server.js';

const FIREFOX_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0';
const FIREFOX_MAC_NEWER = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:134.0) Gecko/20100101 Firefox/134.0';
const CHROME_ANDROID =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';

describe('access tracking (login attempts, listMyLoginHistory, new-device mail)', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start();
  });
  after(() => app.stop());

  it('records every attempt with time, email, user, IP, user agent, outcome and reason', async () => {
    const account = await app.createUser();
    const unknown = uniqueEmail('ghost');
    await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'wrong guess' }, headers: { 'user-agent': FIREFOX_MAC } });
    await app.request('POST', '/v1/auth/login', { body: { email: unknown, password: 'wrong guess' } });
    await app.login(account.email, account.password, 'body', { 'user-agent': FIREFOX_MAC });

    const em = app.services.orm.em.fork();
    const mine = await em.find(LoginAttemptSchema, { email: account.email }, { orderBy: { createdAt: 'asc' } });
    expect(mine.map((a) => [a.outcome, a.reason])).to.deep.equal([
      ['failure', 'wrong-password'],
      ['success', null],
    ]);
    expect(mine[0]).to.include({ userId: account.user.id, userAgent: FIREFOX_MAC, browser: 'Firefox 133', deviceType: 'desktop' });
    expect(mine[0].ip).to.match(/127\.0\.0\.1/);
    expect(mine[0].createdAt).to.be.instanceOf(Date);
    const [ghost] = await em.find(LoginAttemptSchema, { email: unknown });
    expect(ghost).to.include({ outcome: 'failure', reason: 'unknown-email', userId: null });
  });

  it('pages through the successful sign-ins, newest first, and never shows failures', async () => {
    const account = await app.createUser();
    const sessions = [];
    for (let i = 0; i < 5; i += 1) {
      app.clock.advance(1);
      sessions.push(await app.login(account.email, account.password));
      await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'wrong guess' } });
    }
    const token = sessions.at(-1)!.accessToken;
    const first = await app.request('GET', '/v1/me/login-history?limit=2', { token });
    expect(first.status).to.equal(200);
    expect(first.body.items).to.have.length(2);
    expect(first.body.nextCursor).to.be.a('string');
    const second = await app.request('GET', `/v1/me/login-history?limit=2&cursor=${first.body.nextCursor}`, { token });
    const third = await app.request('GET', `/v1/me/login-history?limit=2&cursor=${second.body.nextCursor}`, { token });
    expect(third.body.items).to.have.length(1);
    expect(third.body.nextCursor).to.equal(null);
    const all = [...first.body.items, ...second.body.items, ...third.body.items];
    expect(new Set(all.map((item) => item.id)).size).to.equal(5);
    const times = all.map((item) => Date.parse(item.createdAt));
    expect(times).to.deep.equal([...times].sort((a, b) => b - a));
    expect(all.every((item) => item.method === 'password')).to.equal(true);
  });

  it('shows a user only their own history and refuses a made-up cursor', async () => {
    const a = await app.createUser();
    const b = await app.createUser();
    const tokenA = (await app.login(a.email, a.password)).accessToken;
    await app.login(b.email, b.password);
    const history = await app.request('GET', '/v1/me/login-history', { token: tokenA });
    expect(history.body.items).to.have.length(1);
    const bad = await app.request('GET', '/v1/me/login-history?cursor=bm90LWEtY3Vyc29y', { token: tokenA });
    expect(bad.status).to.equal(400);
    expect(bad.body.errors[0].pointer).to.equal('/query/cursor');
    expect((await app.request('GET', '/v1/me/login-history?limit=0', { token: tokenA })).status).to.equal(400);
  });

  it('mails the owner over SMTP when a new kind of device signs in, and not for a known one or a browser update', async () => {
    const account = await app.createUser();
    const mailsTo = () => app.mail.mails.filter((mail) => mail.to === account.email && /New sign-in/.test(mail.subject));

    await app.login(account.email, account.password, 'body', { 'user-agent': FIREFOX_MAC }); // the first sign-in: every device is new
    await app.login(account.email, account.password, 'body', { 'user-agent': FIREFOX_MAC_NEWER });
    await app.services.mailer.idle();
    expect(mailsTo()).to.have.length(0);

    await app.login(account.email, account.password, 'body', { 'user-agent': CHROME_ANDROID });
    const mail = await app.mail.next(account.email, { subject: /New sign-in/ });
    expect(mail.text).to.contain('Chrome 131 on Android').and.match(/127\.0\.0\.1/);
    await app.login(account.email, account.password, 'body', { 'user-agent': CHROME_ANDROID });
    await app.services.mailer.idle();
    expect(mailsTo()).to.have.length(1);
  });
});
