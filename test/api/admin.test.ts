import { expect } from 'chai';
import { decodeProtectedHeader } from 'jose';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { failWith } from '../helpers/assertions.js';

describe('administration', () => {
  let app: TestServer;
  let admin: { email: string; password: string; token: string; id: string };
  const adminEmail = uniqueEmail('root');

  before(async () => {
    app = await TestServer.start({
      ADMIN_EMAILS: adminEmail,
      TRUST_PROXY: 'true',
      LOCKOUT_IP_THRESHOLD: '4',
      LOCKOUT_ACCOUNT_THRESHOLD: '3',
      LOCKOUT_ACCOUNT_SECONDS: '1',
      SIGNING_KEY_PUBLISH_SECONDS: '600',
    });
    const account = await app.createUser({ email: adminEmail });
    const login = await app.login(account.email, account.password);
    admin = { ...account, token: login.accessToken, id: login.user.id };
  });
  after(() => app.stop());

  /** A fresh admin token, after the fake clock has moved past the old one's expiry. */
  const signInAdmin = async () => {
    admin.token = (await app.login(admin.email, admin.password)).accessToken;
  };
  const asAdmin = (method: string, path: string, body?: unknown) => app.request(method, path, { token: admin.token, ...(body ? { body } : {}) });
  const events = async (query: string) => (await asAdmin('GET', `/v1/admin/audit-events?limit=100&${query}`)).body.items as Array<Record<string, any>>;

  describe('access', () => {
    it('gives the admin role through ADMIN_EMAILS, in the token too', async () => {
      const me = await app.request('GET', '/v1/me', { token: admin.token });
      expect(me.body.role).to.equal('admin');
      const claims = JSON.parse(Buffer.from(admin.token.split('.')[1], 'base64url').toString());
      expect(claims.role).to.equal('admin');
    });

    it('answers 401 to anonymous callers and 403 to signed-in non-admins, on every admin operation tried', async () => {
      const user = await app.createUser();
      const { accessToken } = await app.login(user.email, user.password);
      for (const [method, path] of [
        ['GET', '/v1/admin/users'],
        ['GET', `/v1/admin/users/${admin.id}`],
        ['PATCH', `/v1/admin/users/${admin.id}`],
        ['POST', '/v1/admin/maintenance/cleanup'],
        ['POST', '/v1/admin/signing-keys/rotate'],
        ['GET', '/v1/admin/audit-events'],
      ]) {
        const body = method === 'PATCH' ? { role: 'user' } : undefined;
        const anonymous = await app.request(method, path, { body });
        expect(anonymous.status, `${method} ${path}`).to.equal(401);
        const forbidden = await app.request(method, path, { token: accessToken, body });
        failWith(forbidden, 403, 'forbidden', `${method} ${path}`);
      }
    });

    it('stops a demoted admin at once, though the token still says admin', async () => {
      const second = await app.createUser();
      const { user } = second;
      await asAdmin('PATCH', `/v1/admin/users/${user.id}`, { role: 'admin' });
      const { accessToken } = await app.login(second.email, second.password);
      expect((await app.request('GET', '/v1/admin/users', { token: accessToken })).status).to.equal(200);
      await asAdmin('PATCH', `/v1/admin/users/${user.id}`, { role: 'user' });
      expect((await app.request('GET', '/v1/admin/users', { token: accessToken })).status).to.equal(403);
    });
  });

  describe('users', () => {
    it('pages through users newest first and filters by email prefix, role and status', async () => {
      const prefix = `list-${Date.now()}`;
      const made = [];
      for (let i = 0; i < 3; i += 1) {
        app.clock.advance(1);
        made.push((await app.createUser({ email: `${prefix}-${i}@example.com` })).user);
      }
      const first = await asAdmin('GET', `/v1/admin/users?email=${prefix}&limit=2`);
      expect(first.body.items.map((u: { id: string }) => u.id)).to.deep.equal([made[2].id, made[1].id]);
      const second = await asAdmin('GET', `/v1/admin/users?email=${prefix}&limit=2&cursor=${first.body.nextCursor}`);
      expect(second.body.items.map((u: { id: string }) => u.id)).to.deep.equal([made[0].id]);
      expect(second.body.nextCursor).to.equal(null);

      await asAdmin('PATCH', `/v1/admin/users/${made[0].id}`, { locked: true });
      const locked = await asAdmin('GET', `/v1/admin/users?email=${prefix}&status=locked`);
      expect(locked.body.items.map((u: { id: string }) => u.id)).to.deep.equal([made[0].id]);
      const active = await asAdmin('GET', `/v1/admin/users?email=${prefix}&status=active`);
      expect(active.body.items).to.have.length(2);
      const admins = await asAdmin('GET', '/v1/admin/users?role=admin');
      expect(admins.body.items.every((u: { role: string }) => u.role === 'admin')).to.equal(true);
      expect(admins.body.items.map((u: { id: string }) => u.id)).to.include(admin.id);
    });

    it('locks an account: its sessions end and its sign-in is refused until it is unlocked', async () => {
      const account = await app.createUser();
      const session = await app.login(account.email, account.password);
      const locked = await asAdmin('PATCH', `/v1/admin/users/${account.user.id}`, { locked: true });
      expect(locked.body).to.include({ status: 'locked' });
      expect((await app.request('GET', '/v1/me', { token: session.accessToken })).status).to.equal(401);
      const refused = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } });
      failWith(refused, 403, 'account-disabled');
      await asAdmin('PATCH', `/v1/admin/users/${account.user.id}`, { locked: false });
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } })).status).to.equal(200);
    });

    it('never removes the last administrator', async () => {
      for (const change of [{ role: 'user' }, { locked: true }]) {
        const reply = await asAdmin('PATCH', `/v1/admin/users/${admin.id}`, change);
        failWith(reply, 409, 'last-admin', JSON.stringify(change));
      }
      const deleted = await asAdmin('DELETE', `/v1/admin/users/${admin.id}`);
      expect(deleted.status).to.equal(409);
      expect((await app.request('GET', '/v1/me', { token: admin.token })).body.role).to.equal('admin');
    });

    it('soft-deletes and restores within the grace period, and purges with hard=true', async () => {
      const account = await app.createUser();
      expect((await asAdmin('DELETE', `/v1/admin/users/${account.user.id}`)).status).to.equal(204);
      const deleted = await asAdmin('GET', `/v1/admin/users/${account.user.id}`);
      expect(deleted.body).to.include({ status: 'pending-deletion' });
      expect(Date.parse(deleted.body.purgeAt) - Date.parse(deleted.body.deletedAt)).to.equal(30 * 86_400_000);
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } })).status).to.equal(401);

      const restored = await asAdmin('POST', `/v1/admin/users/${account.user.id}/restore`);
      expect(restored.body).to.include({ status: 'active', deletedAt: null });
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } })).status).to.equal(200);
      expect((await asAdmin('POST', `/v1/admin/users/${account.user.id}/restore`)).body.code).to.equal('not-deleted');

      expect((await asAdmin('DELETE', `/v1/admin/users/${account.user.id}?hard=true`)).status).to.equal(204);
      expect((await asAdmin('GET', `/v1/admin/users/${account.user.id}`)).status).to.equal(404);
      expect((await asAdmin('POST', `/v1/admin/users/${account.user.id}/restore`)).status).to.equal(404);
    });

    it('lists and ends a user\'s sessions', async () => {
      const account = await app.createUser();
      const sessions = await Promise.all([1, 2].map(() => app.login(account.email, account.password)));
      const listed = await asAdmin('GET', `/v1/admin/users/${account.user.id}/sessions`);
      expect(listed.body.items.map((s: { id: string }) => s.id).sort()).to.deep.equal(sessions.map((s) => s.session.id).sort());
      expect((await asAdmin('DELETE', `/v1/admin/users/${account.user.id}/sessions`)).status).to.equal(204);
      for (const session of sessions) expect((await app.request('GET', '/v1/me', { token: session.accessToken })).status).to.equal(401);
      expect((await asAdmin('GET', `/v1/admin/users/${account.user.id}/sessions`)).body.items).to.deep.equal([]);
    });
  });

  describe('sign-in attempts and blocked IPs', () => {
    it('filters attempts by email and outcome', async () => {
      const account = await app.createUser();
      await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'wrong guess' } });
      await app.login(account.email, account.password);
      const failures = await asAdmin('GET', `/v1/admin/login-attempts?email=${encodeURIComponent(account.email)}&outcome=failure`);
      expect(failures.body.items).to.have.length(1);
      expect(failures.body.items[0]).to.include({ outcome: 'failure', reason: 'wrong-password', userId: account.user.id });
      const all = await asAdmin('GET', `/v1/admin/login-attempts?userId=${account.user.id}`);
      expect(all.body.items.map((a: { outcome: string }) => a.outcome)).to.deep.equal(['success', 'failure']);
    });

    it('shows a blocked IP and lifts the block', async () => {
      const account = await app.createUser();
      const from = { 'x-forwarded-for': '203.0.113.77' };
      for (let i = 0; i < 4; i += 1) await app.request('POST', '/v1/auth/login', { body: { email: uniqueEmail(), password: 'spray' }, headers: from });
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password }, headers: from })).status).to.equal(429);

      const blocked = await asAdmin('GET', '/v1/admin/blocked-ips');
      expect(blocked.body.items.find((b: { ip: string }) => b.ip === '203.0.113.77')).to.include({ active: true, failures: 4 });
      expect((await asAdmin('DELETE', '/v1/admin/blocked-ips/203.0.113.77')).status).to.equal(204);
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password }, headers: from })).status).to.equal(200);
      expect((await asAdmin('GET', '/v1/admin/blocked-ips')).body.items.map((b: { ip: string }) => b.ip)).not.to.include('203.0.113.77');
      expect((await asAdmin('GET', '/v1/admin/blocked-ips?all=true')).body.items.find((b: { ip: string }) => b.ip === '203.0.113.77')).to.include({ active: false });
      expect((await asAdmin('DELETE', '/v1/admin/blocked-ips/203.0.113.77')).status).to.equal(404);
    });
  });

  describe('maintenance and keys', () => {
    it('runs the cleanup jobs now and reports what each removed', async () => {
      await app.request('POST', '/v1/auth/register', { body: { email: uniqueEmail(), password: 'a perfectly fine passphrase' } });
      app.clock.advance(1801);
      await signInAdmin();
      const reply = await asAdmin('POST', '/v1/admin/maintenance/cleanup');
      expect(reply.status).to.equal(200);
      const names = reply.body.jobs.map((job: { name: string }) => job.name);
      expect(names).to.include.members(['delete-expired-registrations', 'delete-spent-tokens', 'purge-deleted-accounts']);
      const registrations = reply.body.jobs.find((job: { name: string }) => job.name === 'delete-expired-registrations');
      expect(registrations.counts.registrations).to.be.at.least(1);
    });

    it('publishes a rotated key before it signs, and drops the old one once its tokens have expired', async () => {
      const before = await app.request('GET', '/.well-known/jwks.json');
      const oldKid = before.body.keys.at(-1).kid;
      const rotation = await asAdmin('POST', '/v1/admin/signing-keys/rotate');
      expect(rotation.status).to.equal(200);
      const { kid } = rotation.body;
      expect(Date.parse(rotation.body.activatesAt) - app.clock.now().getTime()).to.be.within(599_000, 601_000);

      const published = await app.request('GET', '/.well-known/jwks.json');
      expect(published.body.keys.map((k: { kid: string }) => k.kid)).to.include.members([kid, oldKid]);
      const early = await app.login(admin.email, admin.password);
      expect(decodeProtectedHeader(early.accessToken).kid).not.to.equal(kid);

      app.clock.advance(601);
      await app.services.signingKeys.reload(); // what each instance does every minute
      await signInAdmin();
      const later = await app.login(admin.email, admin.password);
      expect(decodeProtectedHeader(later.accessToken).kid).to.equal(kid);
      expect((await app.request('GET', '/v1/me', { token: later.accessToken })).status).to.equal(200);

      app.clock.advance(901);
      await app.services.signingKeys.reload();
      const after = await app.request('GET', '/.well-known/jwks.json');
      expect(after.body.keys.map((k: { kid: string }) => k.kid)).to.include(kid).and.not.include(oldKid);
      admin.token = (await app.login(admin.email, admin.password)).accessToken;
    });
  });

  describe('audit trail', () => {
    it('records every security-relevant action with actor, target, IP and time', async () => {
      await signInAdmin();
      const account = await app.createUser();
      const target = account.user.id;
      const from = { 'x-forwarded-for': '198.51.100.20' };
      // failed sign-ins up to a lockout, then a sign-in
      for (let i = 0; i < 3; i += 1) await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'wrong' }, headers: from });
      await asAdmin('PATCH', `/v1/admin/users/${target}`, { locked: true });
      await asAdmin('PATCH', `/v1/admin/users/${target}`, { locked: false });
      await new Promise((resolve) => setTimeout(resolve, 1_100)); // LOCKOUT_ACCOUNT_SECONDS
      const session = await app.login(account.email, account.password, 'body', from);
      // password change and reset, MFA change, session revoke
      await app.request('POST', '/v1/auth/password/change', {
        token: session.accessToken,
        body: { currentPassword: account.password, newPassword: 'a changed passphrase' },
      });
      await app.request('PUT', '/v1/me/mfa/email', { token: session.accessToken, body: { password: 'a changed passphrase' } });
      const before = app.mail.mails.length;
      await app.request('POST', '/v1/auth/password/forgot', { body: { email: account.email } });
      const reset = tokenFrom(await app.mail.next(account.email, { subject: /Reset/, after: before }));
      await app.request('POST', '/v1/auth/password/reset', { body: { token: reset, password: 'a reset passphrase' } });
      // role change, delete, restore
      await asAdmin('PATCH', `/v1/admin/users/${target}`, { role: 'admin' });
      await asAdmin('DELETE', `/v1/admin/users/${target}`);
      await asAdmin('POST', `/v1/admin/users/${target}/restore`);

      const trail = await events(`targetId=${target}`);
      const actions = trail.map((event) => event.action);
      for (const action of [
        'user.registered',
        'user.sign-in-failed',
        'user.locked-out',
        'user.signed-in',
        'password.changed',
        'password.reset',
        'mfa.email-enabled',
        'admin.user-updated',
        'admin.user-deleted',
        'admin.user-restored',
      ]) {
        expect(actions, action).to.include(action);
      }
      const failed = trail.find((event) => event.action === 'user.sign-in-failed')!;
      expect(failed).to.include({ outcome: 'failure', ip: '198.51.100.20' });
      const roleChange = trail.find((event) => event.action === 'admin.user-updated' && event.details?.changes?.role === 'admin')!;
      expect(roleChange).to.include({ actorUserId: admin.id, targetUserId: target });
      expect(Date.parse(roleChange.createdAt)).to.be.a('number');
      const changed = trail.find((event) => event.action === 'password.changed')!;
      expect(changed.actorUserId).to.equal(target);

      const other = await app.createUser();
      const mine = await app.login(other.email, other.password);
      const theirs = await app.login(other.email, other.password);
      await app.request('DELETE', `/v1/me/sessions/${theirs.session.id}`, { token: mine.accessToken });
      expect((await events(`targetId=${other.user.id}`)).map((event) => event.action)).to.include('session.revoked');
      expect((await events('action=admin.signing-key-rotated')).length).to.be.at.least(1);
      // Nothing secret in the trail.
      expect(JSON.stringify(trail)).not.to.contain('a changed passphrase').and.not.to.contain(reset);
    });
  });
});
