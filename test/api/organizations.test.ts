import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { TestServer, uniqueEmail, type Reply } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { AuditEventSchema, MembershipSchema, UserSchema, type OrganizationRole } from '../../src/db/entities.js';
import { membershipsOfUser } from '../../src/domain/organizations/organizations.js';
import { createUser } from '../../src/domain/users/new-user.js';

/**
 * Organizations (issue 19, PRODUCT §5.2) through HTTP. Accounts are made through the domain (a user row and a session
 * with its tokens): sign-up is not what is under test here, and bcrypt would make the file slow.
 */
describe('organizations', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start({ INVITATION_TTL: '3600' });
  });
  after(() => app.stop());

  interface Account {
    id: string;
    email: string;
    token: string;
    refreshToken: string;
    sessionId: string;
  }

  async function account(email = uniqueEmail('org')): Promise<Account> {
    const { orm, sessions, accessTokens, clock } = app.services;
    const em = orm.em.fork();
    const now = clock.now();
    const user = createUser(em, { email, name: 'Test Person', passwordHash: null, role: 'user', now });
    await em.flush();
    const issued = await sessions.start(em, user, { ip: '127.0.0.1', userAgent: 'test' });
    const token = await accessTokens.issue({ userId: user.id, sessionId: issued.session.id, role: 'user' });
    return { id: user.id, email, token, refreshToken: issued.refreshToken, sessionId: issued.session.id };
  }

  /** Adds `who` to the organization with `role`, as an accepted invitation would (the row only). */
  async function join(orgId: string, who: Account, role: OrganizationRole) {
    const em = app.services.orm.em.fork();
    em.create(MembershipSchema, { id: randomUUID(), organizationId: orgId, userId: who.id, role, createdAt: app.services.clock.now() });
    await em.flush();
  }

  async function organization(owner: Account, name = 'Acme Inc.'): Promise<string> {
    const created = await app.request('POST', '/v1/orgs', { token: owner.token, body: { name } });
    expect(created.status, created.text).to.equal(201);
    return created.body.id;
  }

  const api = (method: string, path: string, who: Account, body?: unknown) => app.request(method, path, { token: who.token, body });

  async function ownerCount(orgId: string): Promise<number> {
    return app.services.orm.em.fork().count(MembershipSchema, { organizationId: orgId, role: 'owner' });
  }

  async function invite(orgId: string, by: Account, email: string, role: OrganizationRole = 'member') {
    const before = app.mail.mails.length;
    const reply = await api('POST', `/v1/orgs/${orgId}/invitations`, by, { email, role });
    expect(reply.status, reply.text).to.equal(201);
    const mail = await app.mail.next(email.toLowerCase(), { subject: /Join/, after: before });
    return { invitation: reply.body, token: tokenFrom(mail), mail };
  }

  async function refresh(who: Account) {
    const reply = await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: who.refreshToken } });
    expect(reply.status, reply.text).to.equal(200);
    who.refreshToken = reply.body.refreshToken;
    return reply.body as { accessToken: string };
  }

  const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

  it('creates an organization with the caller as owner, a slug from the name, and lists it with the role', async () => {
    const owner = await account();
    const created = await api('POST', '/v1/orgs', owner, { name: 'Ünïcode Café Co' });
    expect(created.status).to.equal(201);
    expect(created.body).to.include({ role: 'owner', name: 'Ünïcode Café Co' });
    expect(created.body.slug).to.match(/^unicode-cafe-co/);
    const again = await api('POST', '/v1/orgs', owner, { name: 'Ünïcode Café Co' });
    expect(again.body.slug).to.not.equal(created.body.slug);
    failWith(await api('POST', '/v1/orgs', owner, { name: 'x', slug: created.body.slug }), 409, 'slug-taken');
    const mine = await api('GET', '/v1/orgs?limit=1', owner);
    expect(mine.body.items).to.have.length(1);
    expect(mine.body.nextCursor).to.be.a('string');
    const next = await api('GET', `/v1/orgs?limit=1&cursor=${mine.body.nextCursor}`, owner);
    expect([mine.body.items[0].id, next.body.items[0].id]).to.have.members([created.body.id, again.body.id]);
  });

  it('pages the member list by cursor, newest first, with each member\'s email and role', async () => {
    const owner = await account();
    const orgId = await organization(owner);
    const others = [await account(), await account()];
    for (const other of others) {
      app.clock.advance(1);
      await join(orgId, other, 'member');
    }
    const first = await api('GET', `/v1/orgs/${orgId}/members?limit=2`, owner);
    expect(first.body.items.map((m: { userId: string }) => m.userId)).to.deep.equal([others[1].id, others[0].id]);
    expect(first.body.items[0]).to.include({ email: others[1].email, role: 'member' });
    const second = await api('GET', `/v1/orgs/${orgId}/members?limit=2&cursor=${first.body.nextCursor}`, owner);
    expect(second.body.items.map((m: { userId: string; role: string }) => [m.userId, m.role])).to.deep.equal([[owner.id, 'owner']]);
    expect(second.body.nextCursor).to.equal(null);
  });

  describe('role rules (actor role × action × target role)', () => {
    const roles: OrganizationRole[] = ['owner', 'admin', 'member'];
    const rank = { member: 1, admin: 2, owner: 3 } as const;
    const atLeast = (a: OrganizationRole, b: OrganizationRole) => rank[a] >= rank[b];

    interface Case {
      name: string;
      actor: OrganizationRole;
      target?: OrganizationRole;
      allowed: boolean;
      run(orgId: string, actor: Account, target: Account): Promise<Reply>;
      ok: number;
    }
    const cases: Case[] = [];
    for (const actor of roles) {
      cases.push({ name: `${actor} renames`, actor, allowed: atLeast(actor, 'admin'), ok: 200, run: (o, a) => api('PATCH', `/v1/orgs/${o}`, a, { name: 'Renamed' }) });
      cases.push({ name: `${actor} deletes`, actor, allowed: actor === 'owner', ok: 204, run: (o, a) => api('DELETE', `/v1/orgs/${o}`, a) });
      cases.push({ name: `${actor} lists invitations`, actor, allowed: atLeast(actor, 'admin'), ok: 200, run: (o, a) => api('GET', `/v1/orgs/${o}/invitations`, a) });
      cases.push({ name: `${actor} reads`, actor, allowed: true, ok: 200, run: (o, a) => api('GET', `/v1/orgs/${o}`, a) });
      cases.push({ name: `${actor} lists members`, actor, allowed: true, ok: 200, run: (o, a) => api('GET', `/v1/orgs/${o}/members`, a) });
      cases.push({ name: `${actor} leaves`, actor, allowed: true, ok: 204, run: (o, a) => api('DELETE', `/v1/orgs/${o}/members/${a.id}`, a) });
      for (const role of roles) {
        cases.push({
          name: `${actor} invites a new ${role}`,
          actor,
          allowed: atLeast(actor, 'admin') && atLeast(actor, role),
          ok: 201,
          run: (o, a) => api('POST', `/v1/orgs/${o}/invitations`, a, { email: uniqueEmail('invitee'), role }),
        });
      }
      for (const target of roles) {
        cases.push({
          name: `${actor} removes a ${target}`,
          actor,
          target,
          allowed: atLeast(actor, 'admin') && atLeast(actor, target),
          ok: 204,
          run: (o, a, t) => api('DELETE', `/v1/orgs/${o}/members/${t.id}`, a),
        });
        for (const role of roles) {
          if (role === target) continue;
          cases.push({
            name: `${actor} makes a ${target} ${role}`,
            actor,
            target,
            allowed: atLeast(actor, 'admin') && atLeast(actor, target) && atLeast(actor, role),
            ok: 200,
            run: (o, a, t) => api('PATCH', `/v1/orgs/${o}/members/${t.id}`, a, { role }),
          });
        }
      }
    }

    it(`holds in all ${cases.length} cases, and a non-member gets 404 not-a-member for each`, async () => {
      // Two spare owners in every organization, so that the last-owner rule (tested below) never decides here.
      for (const rule of cases) {
        const [founder, spare, actor, target, outsider] = await Promise.all([account(), account(), account(), account(), account()]);
        const orgId = await organization(founder);
        await join(orgId, spare, 'owner');
        await join(orgId, actor, rule.actor);
        if (rule.target) await join(orgId, target, rule.target);
        const outside = await rule.run(orgId, outsider, target);
        failWith(outside, 404, 'not-a-member', `${rule.name} (as a non-member)`);
        const reply = await rule.run(orgId, actor, target);
        if (rule.allowed) expect(reply.status, `${rule.name}: ${reply.text}`).to.equal(rule.ok);
        else failWith(reply, 403, 'insufficient-role', rule.name);
      }
    });

    it('an unknown organization answers as one the caller is not in', async () => {
      const someone = await account();
      failWith(await api('GET', `/v1/orgs/${randomUUID()}`, someone), 404, 'not-a-member');
      const owner = await account();
      const orgId = await organization(owner);
      failWith(await api('PATCH', `/v1/orgs/${orgId}/members/${someone.id}`, owner, { role: 'admin' }), 404, 'not-found', 'target not a member');
    });
  });

  describe('the last owner', () => {
    it('can be neither demoted, removed nor leave; with a second owner, each is allowed', async () => {
      const owner = await account();
      const orgId = await organization(owner);
      const admin = await account();
      await join(orgId, admin, 'admin');
      failWith(await api('PATCH', `/v1/orgs/${orgId}/members/${owner.id}`, owner, { role: 'admin' }), 409, 'last-owner', 'demote self');
      failWith(await api('DELETE', `/v1/orgs/${orgId}/members/${owner.id}`, owner), 409, 'last-owner', 'leave');
      failWith(await api('DELETE', `/v1/orgs/${orgId}/members/${owner.id}`, admin), 403, 'insufficient-role', 'admin removes owner');
      expect((await api('PATCH', `/v1/orgs/${orgId}/members/${admin.id}`, owner, { role: 'owner' })).status).to.equal(200);
      expect((await api('PATCH', `/v1/orgs/${orgId}/members/${owner.id}`, admin, { role: 'member' })).status).to.equal(200);
      failWith(await api('DELETE', `/v1/orgs/${orgId}/members/${admin.id}`, admin), 409, 'last-owner', 'new last owner leaves');
      expect(await ownerCount(orgId)).to.equal(1);
    });

    it('20 parallel demotions of the two last owners never leave zero owners', async () => {
      const a = await account();
      const b = await account();
      const orgId = await organization(a);
      await join(orgId, b, 'owner');
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const [actor, target] = i % 2 ? [a, b] : [b, a];
          return api('PATCH', `/v1/orgs/${orgId}/members/${target.id}`, actor, { role: 'member' });
        }),
      );
      expect(await ownerCount(orgId)).to.equal(1);
      const statuses = replies.map((reply) => reply.status);
      expect(statuses.filter((s) => s === 200)).to.have.length.of.at.least(1);
      for (const reply of replies) expect([200, 403, 404, 409], reply.text).to.include(reply.status);
    });

    it('deleting the last owner\'s account keeps the organization and its other members; an administrator sees ownerCount 0', async () => {
      const owner = await account();
      const member = await account();
      const orgId = await organization(owner, 'Orphaned Org');
      await join(orgId, member, 'member');
      const em = app.services.orm.em.fork();
      await em.transactional((tx) => app.services.accountDeletion.softDelete(tx, { id: owner.id, email: owner.email }));
      const members = await api('GET', `/v1/orgs/${orgId}/members`, member);
      expect(members.body.items.map((m: { userId: string }) => m.userId)).to.deep.equal([member.id]);
      // What exportMyData reads: the deleted account has no membership left, the member keeps its one.
      expect(await membershipsOfUser(app.services.orm.em.fork(), owner.id)).to.deep.equal([]);
      expect((await membershipsOfUser(app.services.orm.em.fork(), member.id)).map((m) => [m.id, m.role])).to.deep.equal([[orgId, 'member']]);
      const admin = await account();
      await app.services.orm.em.fork().nativeUpdate(UserSchema, { id: admin.id }, { role: 'admin' });
      const adminToken = await app.services.accessTokens.issue({ userId: admin.id, sessionId: admin.sessionId, role: 'admin' });
      const listed = await app.request('GET', `/v1/admin/orgs?name=orphaned&memberId=${member.id}`, { token: adminToken });
      expect(listed.status, listed.text).to.equal(200);
      expect(listed.body.items).to.have.length(1);
      expect(listed.body.items[0]).to.include({ id: orgId, memberCount: 1, ownerCount: 0 });
      failWith(await api('GET', '/v1/admin/orgs', member), 403, 'forbidden');
    });
  });

  describe('a server administrator (adminSetOrganizationMemberRole)', () => {
    /** An account with the server's `admin` role (not a role in any organization). */
    async function administrator(): Promise<Account> {
      const admin = await account();
      await app.services.orm.em.fork().nativeUpdate(UserSchema, { id: admin.id }, { role: 'admin' });
      admin.token = await app.services.accessTokens.issue({ userId: admin.id, sessionId: admin.sessionId, role: 'admin' });
      return admin;
    }

    const setRole = (orgId: string, userId: string, who: Account, role: unknown) => api('PATCH', `/v1/admin/orgs/${orgId}/members/${userId}`, who, { role });

    it('gives an organization whose last owner was deleted an owner; the new owner can do owner things at once, and the old scoped token fails', async () => {
      const owner = await account();
      const member = await account();
      const other = await account();
      const orgId = await organization(owner, 'Ownerless Org');
      await join(orgId, member, 'member');
      await join(orgId, other, 'member');
      await app.services.orm.em.fork().transactional((tx) => app.services.accountDeletion.softDelete(tx, { id: owner.id, email: owner.email }));
      const admin = await administrator();
      const listed = await api('GET', `/v1/admin/orgs?memberId=${member.id}`, admin);
      expect(listed.body.items[0]).to.include({ id: orgId, memberCount: 2, ownerCount: 0 });
      const scoped = await api('POST', '/v1/me/active-organization', member, { organizationId: orgId });
      expect(claimsOf(scoped.body.accessToken)).to.include({ org_id: orgId, org_role: 'member' });
      // Before: the member may not do what owners do.
      failWith(await api('PATCH', `/v1/orgs/${orgId}/members/${other.id}`, member, { role: 'owner' }), 403, 'insufficient-role', 'before');

      const set = await setRole(orgId, member.id, admin, 'owner');
      expect(set.status, set.text).to.equal(200);
      expect(set.body).to.include({ userId: member.id, email: member.email, role: 'owner' });
      expect((await api('GET', `/v1/admin/orgs?memberId=${member.id}`, admin)).body.items[0]).to.include({ ownerCount: 1 });
      // The member-scoped token fails at once (the invalidation path of updateOrganizationMember); a refresh says owner.
      failWith(await app.request('GET', '/v1/me', { token: scoped.body.accessToken }), 401, 'invalid-access-token', 'after the promotion');
      expect(claimsOf((await refresh(member)).accessToken)).to.include({ org_id: orgId, org_role: 'owner' });
      // Owner things: make an owner, invite an owner, delete the organization.
      expect((await api('PATCH', `/v1/orgs/${orgId}/members/${other.id}`, member, { role: 'owner' })).status).to.equal(200);
      expect((await api('POST', `/v1/orgs/${orgId}/invitations`, member, { email: uniqueEmail('new-owner'), role: 'owner' })).status).to.equal(201);
      expect((await api('DELETE', `/v1/orgs/${orgId}`, member)).status).to.equal(204);

      await new Promise((resolve) => setTimeout(resolve, 50));
      const events = await app.services.orm.em.fork().find(AuditEventSchema, { action: 'admin.organization-member-updated', targetUserId: member.id });
      expect(events).to.have.length(1);
      expect(events[0]).to.include({ actorUserId: admin.id, outcome: 'success' });
      expect(events[0].details).to.include({ organizationId: orgId, role: 'owner', previousRole: 'member', operationId: 'adminSetOrganizationMemberRole' });
    });

    it('is refused to everyone without the admin role, the organization\'s own owner included (403 forbidden)', async () => {
      const owner = await account();
      const member = await account();
      const orgId = await organization(owner);
      await join(orgId, member, 'member');
      failWith(await setRole(orgId, member.id, owner, 'owner'), 403, 'forbidden', 'the owner');
      failWith(await setRole(orgId, member.id, member, 'owner'), 403, 'forbidden', 'the member itself');
      failWith(await app.request('PATCH', `/v1/admin/orgs/${orgId}/members/${member.id}`, { body: { role: 'owner' } }), 401, 'authentication-required', 'no token');
      expect(await ownerCount(orgId)).to.equal(1);
    });

    it('keeps the last-owner rule: an organization that has owners keeps one, also under 20 parallel demotions', async () => {
      const admin = await administrator();
      const a = await account();
      const b = await account();
      const orgId = await organization(a);
      failWith(await setRole(orgId, a.id, admin, 'admin'), 409, 'last-owner', 'the only owner');
      expect((await setRole(orgId, a.id, admin, 'owner')).status, 'the same role').to.equal(200);
      await join(orgId, b, 'owner');
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => setRole(orgId, (i % 2 ? a : b).id, admin, 'member')));
      expect(await ownerCount(orgId)).to.equal(1);
      expect(replies.filter((reply) => reply.status === 200).length).to.be.at.least(1);
      for (const reply of replies) if (reply.status !== 200) failWith(reply, 409, 'last-owner', 'a parallel demotion');
    });

    it('answers 404 not-found for an unknown organization or a user who is not a member, 400 for an unknown role', async () => {
      const admin = await administrator();
      const owner = await account();
      const outsider = await account();
      const orgId = await organization(owner);
      failWith(await setRole(randomUUID(), owner.id, admin, 'owner'), 404, 'not-found', 'unknown organization');
      failWith(await setRole(orgId, outsider.id, admin, 'owner'), 404, 'not-found', 'not a member');
      failWith(await setRole(orgId, admin.id, admin, 'owner'), 404, 'not-found', 'the administrator is no member either');
      failWith(await setRole(orgId, owner.id, admin, 'boss'), 400, 'validation-failed', 'unknown role');
      expect(await app.services.orm.em.fork().count(MembershipSchema, { organizationId: orgId })).to.equal(1);
    });
  });

  describe('invitations', () => {
    it('are accepted by the invited account only, once, and the link is single-use', async () => {
      const owner = await account();
      const orgId = await organization(owner, 'Invite Co');
      const invitee = await account(uniqueEmail('Invitee').toLowerCase());
      const stranger = await account();
      const { token, mail } = await invite(orgId, owner, invitee.email.toUpperCase(), 'admin');
      expect(mail.text).to.include('Invite Co').and.include('/accept-invitation?token=');
      failWith(await api('POST', '/v1/invitations/accept', stranger, { token }), 403, 'invitation-email-mismatch');
      const accepted = await api('POST', '/v1/invitations/accept', invitee, { token });
      expect(accepted.status, accepted.text).to.equal(200);
      expect(accepted.body).to.include({ id: orgId, role: 'admin' });
      failWith(await api('POST', '/v1/invitations/accept', invitee, { token }), 409, 'invitation-used');
      failWith(await api('POST', '/v1/invitations/accept', invitee, { token: 'not-a-token' }), 400, 'invitation-invalid');
      failWith(await api('POST', `/v1/orgs/${orgId}/invitations`, owner, { email: invitee.email, role: 'member' }), 409, 'already-a-member');
    });

    it('expire after INVITATION_TTL', async () => {
      const owner = await account();
      const orgId = await organization(owner);
      const invitee = await account();
      const { token } = await invite(orgId, owner, invitee.email);
      app.clock.advance(3601);
      // Fresh access tokens: the first ones expired with the hour.
      for (const who of [owner, invitee]) who.token = await app.services.accessTokens.issue({ userId: who.id, sessionId: who.sessionId, role: 'user' });
      failWith(await api('POST', '/v1/invitations/accept', invitee, { token }), 410, 'invitation-expired');
      expect((await api('GET', `/v1/orgs/${orgId}/invitations`, owner)).body.items).to.have.length(0);
    });

    it('re-inviting an email replaces its pending invitation; a revoked one stops working', async () => {
      const owner = await account();
      const orgId = await organization(owner);
      const invitee = await account();
      const first = await invite(orgId, owner, invitee.email, 'member');
      const second = await invite(orgId, owner, invitee.email, 'admin');
      const pending = await api('GET', `/v1/orgs/${orgId}/invitations`, owner);
      expect(pending.body.items.map((i: { id: string }) => i.id)).to.deep.equal([second.invitation.id]);
      failWith(await api('POST', '/v1/invitations/accept', invitee, { token: first.token }), 400, 'invitation-invalid');
      expect((await api('DELETE', `/v1/orgs/${orgId}/invitations/${second.invitation.id}`, owner)).status).to.equal(204);
      failWith(await api('POST', '/v1/invitations/accept', invitee, { token: second.token }), 400, 'invitation-invalid');
      failWith(await api('DELETE', `/v1/orgs/${orgId}/invitations/${second.invitation.id}`, owner), 404, 'not-found');
    });

    it('inviting an email without an account answers exactly as inviting one with an account', async () => {
      const owner = await account();
      const orgId = await organization(owner);
      const known = await account();
      const strip = (reply: Reply) => ({ status: reply.status, keys: Object.keys(reply.body).sort(), role: reply.body.role, invitedBy: reply.body.invitedBy });
      const a = await api('POST', `/v1/orgs/${orgId}/invitations`, owner, { email: known.email, role: 'member' });
      const b = await api('POST', `/v1/orgs/${orgId}/invitations`, owner, { email: uniqueEmail('nobody'), role: 'member' });
      expect(strip(a)).to.deep.equal(strip(b));
      expect(JSON.stringify(a.body)).to.not.match(/token/i);
    });

    it('20 parallel accepts of one invitation give one membership', async () => {
      const owner = await account();
      const orgId = await organization(owner);
      const invitee = await account();
      const { token } = await invite(orgId, owner, invitee.email);
      const replies = await Promise.all(Array.from({ length: 20 }, () => api('POST', '/v1/invitations/accept', invitee, { token })));
      expect(replies.filter((r) => r.status === 200)).to.have.length(1);
      for (const reply of replies) if (reply.status !== 200) expect(['invitation-used', 'already-a-member'], reply.text).to.include(reply.body.code);
      expect(await app.services.orm.em.fork().count(MembershipSchema, { organizationId: orgId, userId: invitee.id })).to.equal(1);
    });
  });

  describe('organization-scoped tokens', () => {
    it('carry org_id and org_role, through refreshes; a role change refuses them at once and the next refresh has the new role; removal leaves none', async () => {
      const owner = await account();
      const orgId = await organization(owner, 'Scoped');
      const member = await account();
      await join(orgId, member, 'admin');
      failWith(await api('POST', '/v1/me/active-organization', member, { organizationId: randomUUID() }), 404, 'not-a-member');
      const scoped = await api('POST', '/v1/me/active-organization', member, { organizationId: orgId });
      expect(scoped.status, scoped.text).to.equal(200);
      expect(scoped.body).to.not.have.property('refreshToken');
      expect(claimsOf(scoped.body.accessToken)).to.include({ org_id: orgId, org_role: 'admin', sub: member.id });
      const me = await app.request('GET', '/v1/me', { token: scoped.body.accessToken });
      expect(me.body.activeOrganization).to.deep.include({ id: orgId, name: 'Scoped', role: 'admin' });
      expect((await app.request('GET', '/v1/me', { token: member.token })).body.activeOrganization).to.equal(null);
      expect(claimsOf((await refresh(member)).accessToken)).to.include({ org_id: orgId, org_role: 'admin' });

      expect((await api('PATCH', `/v1/orgs/${orgId}/members/${member.id}`, owner, { role: 'member' })).status).to.equal(200);
      failWith(await app.request('GET', '/v1/me', { token: scoped.body.accessToken }), 401, 'invalid-access-token', 'after the demotion');
      // A token without organization claims is not affected.
      expect((await app.request('GET', '/v1/me', { token: member.token })).status).to.equal(200);
      const demoted = (await refresh(member)).accessToken;
      expect(claimsOf(demoted)).to.include({ org_id: orgId, org_role: 'member' });
      expect((await app.request('GET', '/v1/me', { token: demoted })).body.activeOrganization.role).to.equal('member');

      expect((await api('DELETE', `/v1/orgs/${orgId}/members/${member.id}`, owner)).status).to.equal(204);
      failWith(await app.request('GET', '/v1/me', { token: demoted }), 401, 'invalid-access-token', 'after the removal');
      const none = claimsOf((await refresh(member)).accessToken);
      expect(none).to.not.have.property('org_id');
      expect(none).to.not.have.property('org_role');
    });

    it('deleting the organization ends its scoped tokens; choosing none gives an unscoped token', async () => {
      const owner = await account();
      const orgId = await organization(owner);
      const scoped = await api('POST', '/v1/me/active-organization', owner, { organizationId: orgId });
      expect((await app.request('GET', `/v1/orgs/${orgId}`, { token: scoped.body.accessToken })).status).to.equal(200);
      const unscoped = await api('POST', '/v1/me/active-organization', owner, { organizationId: null });
      expect(claimsOf(unscoped.body.accessToken)).to.not.have.property('org_id');
      failWith(await app.request('GET', '/v1/me', { token: scoped.body.accessToken }), 401, 'invalid-access-token', 'after choosing none');
      const again = await api('POST', '/v1/me/active-organization', owner, { organizationId: orgId });
      expect((await api('DELETE', `/v1/orgs/${orgId}`, owner)).status).to.equal(204);
      failWith(await app.request('GET', '/v1/me', { token: again.body.accessToken }), 401, 'invalid-access-token', 'after the deletion');
      expect(claimsOf((await refresh(owner)).accessToken)).to.not.have.property('org_id');
    });
  });

  it('writes an audit event for every change', async () => {
    const owner = await account();
    const orgId = await organization(owner);
    const member = await account();
    const { token } = await invite(orgId, owner, member.email);
    await api('POST', '/v1/invitations/accept', member, { token });
    await api('PATCH', `/v1/orgs/${orgId}/members/${member.id}`, owner, { role: 'admin' });
    await api('DELETE', `/v1/orgs/${orgId}/members/${member.id}`, owner);
    await api('DELETE', `/v1/orgs/${orgId}`, owner);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const events = await app.services.orm.em.fork().find('AuditEvent', { actorUserId: { $in: [owner.id, member.id] } });
    const actions = (events as Array<{ action: string }>).map((e) => e.action);
    for (const action of ['organization.created', 'invitation.created', 'invitation.accepted', 'organization.member-updated', 'organization.member-removed', 'organization.deleted']) {
      expect(actions, action).to.include(action);
    }
  });
});
