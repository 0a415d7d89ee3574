import { expect } from 'chai';
import { TestServer, uniqueEmail, type Reply } from '../helpers/server.js';
import { failWith, type ProblemReply } from '../helpers/assertions.js';

/**
 * The last-admin rule on every path that can take an administrator away (issue 14.9): demote, lock, unverify,
 * delete (soft or hard, by an administrator, or deleteMe), counting only administrators that can act (verified,
 * not locked, not deleted), and holding under concurrent changes (PostgreSQL runs them truly in parallel).
 */
describe('the last usable administrator', () => {
  let app: TestServer;
  let firstAdminEmail: string;
  beforeEach(async () => {
    firstAdminEmail = uniqueEmail('root');
    app = await TestServer.start({ ADMIN_EMAILS: firstAdminEmail });
  });
  afterEach(() => app.stop());

  interface Admin {
    email: string;
    password: string;
    id: string;
    token: string;
  }

  /** A verified administrator, signed in: the ADMIN_EMAILS one, or one that `by` promotes. */
  async function admin(by?: Admin): Promise<Admin> {
    const account = await app.createUser({ email: by ? uniqueEmail('admin') : firstAdminEmail });
    if (by) {
      const promoted = await app.request('PATCH', `/v1/admin/users/${account.user.id}`, { token: by.token, body: { role: 'admin' } });
      expect(promoted.status, promoted.text).to.equal(200);
    }
    const login = await app.login(account.email, account.password);
    return { email: account.email, password: account.password, id: login.user.id, token: login.accessToken };
  }

  /** Every way an administrator can be taken away, as `actor` does it to `target`. */
  const removals: Record<string, (actor: Admin, target: Admin) => Promise<Reply>> = {
    demote: (actor, target) => app.request('PATCH', `/v1/admin/users/${target.id}`, { token: actor.token, body: { role: 'user' } }),
    lock: (actor, target) => app.request('PATCH', `/v1/admin/users/${target.id}`, { token: actor.token, body: { locked: true } }),
    unverify: (actor, target) => app.request('PATCH', `/v1/admin/users/${target.id}`, { token: actor.token, body: { emailVerified: false } }),
    delete: (actor, target) => app.request('DELETE', `/v1/admin/users/${target.id}`, { token: actor.token }),
    'hard delete': (actor, target) => app.request('DELETE', `/v1/admin/users/${target.id}?hard=true`, { token: actor.token }),
  };
  const deleteMe = (self: Admin) => app.request('DELETE', '/v1/me', { token: self.token, body: { password: self.password } });

  /** Administrators that can still act, as the administration API lists them. */
  async function usableAdmins(viewer: Admin): Promise<string[]> {
    const list = await app.request('GET', '/v1/admin/users?role=admin&status=active&limit=100', { token: viewer.token });
    expect(list.status, list.text).to.equal(200);
    return list.body.items.filter((user: { emailVerified: boolean }) => user.emailVerified).map((user: { id: string }) => user.id);
  }

  const expectLastAdmin = (reply: ProblemReply, what: string) => failWith(reply, 409, 'last-admin', what);

  it('Last-admin hole: the only administrator cannot mark its own email unverified, nor delete itself with deleteMe', async () => {
    const only = await admin();
    expectLastAdmin(await removals.unverify(only, only), 'emailVerified:false');
    expectLastAdmin(await deleteMe(only), 'deleteMe');
    // Nothing changed: it still signs in and administers.
    const again = await app.login(only.email, only.password);
    expect((await app.request('GET', '/v1/me', { token: again.accessToken })).body).to.include({ role: 'admin', emailVerified: true });
    expect(await usableAdmins({ ...only, token: again.accessToken })).to.deep.equal([only.id]);
  });

  it('Last-admin hole: an unverified or locked administrator does not count, so the only usable one cannot be taken away on any path', async () => {
    const usable = await admin();
    const unverified = await admin(usable);
    const locked = await admin(usable);
    expect((await removals.unverify(usable, unverified)).status).to.equal(200);
    expect((await removals.lock(usable, locked)).status).to.equal(200);

    for (const [name, remove] of Object.entries(removals)) expectLastAdmin(await remove(usable, usable), name);
    expectLastAdmin(await deleteMe(usable), 'deleteMe');
    expect(await usableAdmins(usable)).to.deep.equal([usable.id]);

    // Administrators that cannot act may still be changed: that takes no usable administrator away.
    expect((await removals.demote(usable, unverified)).status).to.equal(200);
    expect((await removals['hard delete'](usable, locked)).status).to.equal(204);
  });

  it('lets an administrator go while another usable one remains, on every path', async () => {
    const keeper = await admin();
    for (const name of Object.keys(removals)) {
      const leaving = await admin(keeper);
      const reply = await removals[name](keeper, leaving);
      expect(reply.status, name).to.be.oneOf([200, 204]);
    }
    const leaving = await admin(keeper);
    expect((await deleteMe(leaving)).status).to.equal(204);
    expect(await usableAdmins(keeper)).to.deep.equal([keeper.id]);
  });

  it('Last-admin race: two administrators taking themselves (or each other) away at once leave one usable administrator', async () => {
    const rounds: Array<[string, (a: Admin, b: Admin) => Promise<Reply>, (a: Admin, b: Admin) => Promise<Reply>]> = [
      ['both demote themselves', (a) => removals.demote(a, a), (_a, b) => removals.demote(b, b)],
      ['each locks the other', (a, b) => removals.lock(a, b), (a, b) => removals.lock(b, a)],
      ['each deletes the other', (a, b) => removals.delete(a, b), (a, b) => removals.delete(b, a)],
      ['both demote themselves, again', (a) => removals.demote(a, a), (_a, b) => removals.demote(b, b)],
      ['each demotes the other', (a, b) => removals.demote(a, b), (a, b) => removals.demote(b, a)],
      ['deleteMe and a self-demotion', (a) => deleteMe(a), (_a, b) => removals.demote(b, b)],
      ['both unverify themselves', (a) => removals.unverify(a, a), (_a, b) => removals.unverify(b, b)],
    ];
    let a = await admin();
    for (const [name, first, second] of rounds) {
      const b = await admin(a);
      const replies = await Promise.all([first(a, b), second(a, b)]);
      // One change goes through. The other is refused: last-admin, or, when the first took its actor away (locked,
      // deleted or demoted it), 401 or 403 before it is even counted.
      const described = `${name}: ${JSON.stringify(replies.map((r) => r.body))}`;
      expect(replies.filter((reply) => reply.status < 300), described).to.have.length(1);
      const refused = replies.find((reply) => reply.status >= 300)!;
      expect(refused.status, described).to.be.oneOf([401, 403, 409]);
      if (refused.status === 409) expect(refused.body.code).to.equal('last-admin');

      // Exactly one of the two is still a usable administrator; it carries on into the next round.
      const survivors: Admin[] = [];
      for (const candidate of [a, b]) {
        const login = await app.request('POST', '/v1/auth/login', { body: { email: candidate.email, password: candidate.password, refreshTokenDelivery: 'body' } });
        if (login.status === 200 && login.body.user.role === 'admin') survivors.push({ ...candidate, token: login.body.accessToken });
      }
      expect(survivors.map((s) => s.email), name).to.have.length(1);
      expect(await usableAdmins(survivors[0]), name).to.deep.equal([survivors[0].id]);
      a = survivors[0];
    }
  });
});
