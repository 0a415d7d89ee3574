import { expect } from 'chai';
import { TestServer } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

describe('profile (getMe, updateMe)', () => {
  let app: TestServer;
  let token: string;
  let userId: string;
  before(async () => {
    app = await TestServer.start();
    const account = await app.createUser({ name: 'Ada' });
    const login = await app.login(account.email, account.password);
    token = login.accessToken;
    userId = login.user.id;
  });
  after(() => app.stop());

  it('returns the signed-in user, with no password hash or secret in it', async () => {
    const reply = await app.request('GET', '/v1/me', { token });
    expect(reply.status).to.equal(200);
    expect(reply.body).to.include({ id: userId, name: 'Ada', role: 'user', emailVerified: true });
    expect(reply.text).not.to.match(/\$2[aby]\$|passwordHash|refreshSecret/);
  });

  it('changes the name, clears it with null, and leaves absent fields alone', async () => {
    const renamed = await app.request('PATCH', '/v1/me', { token, body: { name: 'Ada King' } });
    expect(renamed.status).to.equal(200);
    expect(renamed.body.name).to.equal('Ada King');
    expect(Date.parse(renamed.body.updatedAt)).to.be.at.least(Date.parse(renamed.body.createdAt));

    const untouched = await app.request('PATCH', '/v1/me', { token, body: {} });
    expect(untouched.body.name).to.equal('Ada King');

    const cleared = await app.request('PATCH', '/v1/me', { token, body: { name: null } });
    expect(cleared.body.name).to.equal(null);
    expect((await app.request('GET', '/v1/me', { token })).body.name).to.equal(null);
  });

  it('refuses fields that are not part of the profile', async () => {
    for (const body of [{ role: 'admin' }, { email: 'new@example.com' }, { name: '' }, { name: 'x'.repeat(101) }]) {
      const reply = await app.request('PATCH', '/v1/me', { token, body });
      failWith(reply, 400, 'validation-failed', JSON.stringify(body));
    }
    expect((await app.request('GET', '/v1/me', { token })).body.role).to.equal('user');
  });
});
