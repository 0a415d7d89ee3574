import { expect } from 'chai';
import { TestServer } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

const LAPTOP = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const PHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

describe('sessions (listMySessions, revokeMySession)', () => {
  let app: TestServer;
  let account: { email: string; password: string };
  before(async () => {
    app = await TestServer.start();
    account = await app.createUser();
  });
  after(() => app.stop());

  it('lists two devices that signed in at the same instant, each with its device, browser, OS and IP', async () => {
    const [laptop, phone] = await Promise.all([
      app.login(account.email, account.password, 'body', { 'user-agent': LAPTOP }),
      app.login(account.email, account.password, 'body', { 'user-agent': PHONE }),
    ]);
    const reply = await app.request('GET', '/v1/me/sessions', { token: laptop.accessToken });
    expect(reply.status).to.equal(200);
    const byId = new Map(reply.body.items.map((s: { id: string }) => [s.id, s]));
    expect(byId.get(laptop.session.id)).to.include({ current: true, deviceType: 'desktop', browser: 'Chrome 131', os: 'Windows 10' });
    expect(byId.get(phone.session.id)).to.include({ current: false, deviceType: 'mobile', browser: 'Safari 18', os: 'iOS 18' });
    expect((byId.get(phone.session.id) as { ip: string }).ip).to.match(/127\.0\.0\.1/);
  });

  it('ends another device\'s session at once: its access and refresh tokens fail', async () => {
    const mine = await app.login(account.email, account.password);
    const other = await app.login(account.email, account.password);
    const reply = await app.request('DELETE', `/v1/me/sessions/${other.session.id}`, { token: mine.accessToken });
    expect(reply.status).to.equal(204);
    expect((await app.request('GET', '/v1/me', { token: other.accessToken })).status).to.equal(401);
    expect((await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: other.refreshToken } })).status).to.equal(401);
    const listed = await app.request('GET', '/v1/me/sessions', { token: mine.accessToken });
    expect(listed.body.items.map((s: { id: string }) => s.id)).not.to.include(other.session.id);
    expect((await app.request('GET', '/v1/me', { token: mine.accessToken })).status).to.equal(200);
  });

  it('answers 404, not 403, for another user\'s session, and leaves it alone', async () => {
    const stranger = await app.createUser();
    const theirs = await app.login(stranger.email, stranger.password);
    const mine = await app.login(account.email, account.password);
    const reply = await app.request('DELETE', `/v1/me/sessions/${theirs.session.id}`, { token: mine.accessToken });
    failWith(reply, 404, 'not-found');
    expect((await app.request('GET', '/v1/me', { token: theirs.accessToken })).status).to.equal(200);
    const listed = await app.request('GET', '/v1/me/sessions', { token: mine.accessToken });
    expect(listed.body.items.map((s: { id: string }) => s.id)).not.to.include(theirs.session.id);
  });

  it('answers 404 for a session that has already ended, and 400 for an id that is not one', async () => {
    const mine = await app.login(account.email, account.password);
    const other = await app.login(account.email, account.password);
    await app.request('POST', '/v1/auth/logout', { token: other.accessToken });
    expect((await app.request('DELETE', `/v1/me/sessions/${other.session.id}`, { token: mine.accessToken })).status).to.equal(404);
    const bad = await app.request('DELETE', '/v1/me/sessions/not-a-uuid', { token: mine.accessToken });
    expect(bad.status).to.equal(400);
    expect(bad.body.errors[0].pointer).to.equal('/path/sessionId');
  });

  it('moves lastActiveAt when a session refreshes', async () => {
    const login = await app.login(account.email, account.password);
    app.clock.advance(120);
    const refreshed = await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: login.refreshToken } });
    const listed = await app.request('GET', '/v1/me/sessions', { token: refreshed.body.accessToken });
    const session = listed.body.items.find((s: { id: string }) => s.id === login.session.id);
    expect(Date.parse(session.lastActiveAt) - Date.parse(session.createdAt)).to.be.at.least(119_000);
    expect(listed.body.items[0].id).to.equal(login.session.id); // most recently active first
  });
});
