import { randomBytes, randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import {
  InvitationSchema,
  MembershipSchema,
  OrganizationSchema,
  SessionSchema,
  UserSchema,
  type Invitation,
  type Membership,
  type Organization,
  type OrganizationRole,
  type Session,
  type User,
} from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import type { Principal } from '../kernel/actor.js';
import type { Mailbox } from '../kernel/notifications.js';
import type { TransactionLocks } from '../kernel/transaction-locks.js';
import { ProblemError } from '../kernel/problem.js';
import type { Invalidations } from '../cache/invalidations.js';
import { decodeCursor, findPage, page } from '../pagination.js';
import { hashToken, randomSecret } from '../tokens/secrets.js';
import { normaliseEmail } from '../users/views.js';
import { roleRules } from './roles.js';
import { webhookEvents } from '../webhooks/events.js';
import type { components } from '../../../generated/openapi.js';

export type OrganizationView = components['schemas']['Organization'];
export type MyOrganizationView = components['schemas']['MyOrganization'];
export type MemberView = components['schemas']['OrganizationMember'];
export type InvitationView = components['schemas']['Invitation'];
export type AdminOrganizationView = components['schemas']['AdminOrganization'];
export type ActiveOrganizationView = NonNullable<components['schemas']['Me']['activeOrganization']>;

type PageRequest = { limit: number; cursor?: string };
type Row = Record<string, unknown>;

/** SQLite gives dates as epoch milliseconds, PostgreSQL as Date. */
const asDate = (value: unknown) => new Date(value as number | string | Date);

/** The caller's organization and role in it, in one statement, or `404 not-a-member`. For the reads. */
async function readMembership(em: EntityManager, userId: string, organizationId: string): Promise<MyOrganizationView> {
  const row = await (em as SqlEntityManager).execute<Row>(
    `select o.id, o.name, o.slug, o.created_at, o.updated_at, m.role, m.created_at as joined_at
       from memberships m join organizations o on o.id = m.organization_id where m.organization_id = ? and m.user_id = ?`,
    [organizationId, userId],
    'get',
  );
  if (!row) throw notAMember();
  return {
    id: String(row.id),
    name: String(row.name),
    slug: String(row.slug),
    createdAt: asDate(row.created_at).toISOString(),
    updatedAt: asDate(row.updated_at).toISOString(),
    role: String(row.role) as OrganizationRole,
    joinedAt: asDate(row.joined_at).toISOString(),
  };
}

export const toOrganizationView = (org: Organization): OrganizationView => ({
  id: org.id,
  name: org.name,
  slug: org.slug,
  createdAt: org.createdAt.toISOString(),
  updatedAt: org.updatedAt.toISOString(),
});

const withRole = (org: Organization, membership: Pick<Membership, 'role' | 'createdAt'>): MyOrganizationView => ({
  ...toOrganizationView(org),
  role: membership.role,
  joinedAt: membership.createdAt.toISOString(),
});

export const toInvitationView = (invitation: Invitation): InvitationView => ({
  id: invitation.id,
  organizationId: invitation.organizationId,
  email: invitation.email,
  role: invitation.role,
  invitedBy: invitation.invitedBy,
  createdAt: invitation.createdAt.toISOString(),
  expiresAt: invitation.expiresAt.toISOString(),
});

const toMemberView = (membership: Membership, user: Pick<User, 'email' | 'name'>): MemberView => ({
  userId: membership.userId,
  email: user.email,
  name: user.name,
  role: membership.role,
  joinedAt: membership.createdAt.toISOString(),
});

const notAMember = () => new ProblemError('not-a-member', { detail: 'There is no organization with this id that you are a member of.' });
const lastOwner = () => new ProblemError('last-owner', { detail: 'Make another member an owner first.' });
const slugTaken = (slug: string) => new ProblemError('slug-taken', { detail: `Another organization has the slug ${slug}.` });

/** A slug from a name: lower-case ASCII letters, digits and single hyphens, 3 to 48 characters. */
export function slugFrom(name: string): string {
  const base = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return base.length >= 3 ? base : `${base}${base ? '-' : ''}org`.padEnd(3, '0');
}

const nameKeyOf = (name: string) => name.trim().toLowerCase();

/**
 * Organizations, memberships and invitations (PRODUCT §5.2).
 *
 * Every change is one method here that runs in a transaction of its own on the caller's EntityManager, with the
 * organization's lock held (TransactionLocks: an advisory lock on PostgreSQL; SQLite's one writer already makes
 * transactions take turns), so that role checks and the last-owner rule read what no one else is changing. The
 * changes are: create, update, delete, updateMember, adminSetMemberRole (a server administrator), removeMember,
 * invite, revokeInvitation, acceptInvitation, setActive, and removeMembershipsOf (account deletion). An event for
 * webhooks belongs in each, next to its audit.
 *
 * A change to someone's membership (role, removal, the organization's deletion) makes that user's
 * organization-scoped access tokens fail at once on every instance: the bearer check compares the token's
 * `org_id`/`org_role` with the session's active organization and the membership's role, and the change is announced
 * through Invalidations (the same NOTIFY path as a sign-out), which forgets the cached answers everywhere.
 */
export class Organizations {
  constructor(
    private readonly clock: Clock,
    private readonly invalidations: Pick<Invalidations, 'userChanged' | 'sessionChanged'>,
    private readonly mailbox: Mailbox,
    private readonly locks: TransactionLocks,
    private readonly options: { appUrl: string; invitationTtlSeconds: number },
  ) {}

  // --- reads -----------------------------------------------------------------------------------------------------

  /** The caller's membership and its organization, or `404 not-a-member` (also when the organization does not exist). */
  async membershipOf(em: EntityManager, userId: string, organizationId: string, options: { refresh?: boolean } = {}) {
    const membership = await em.findOne(MembershipSchema, { organizationId, userId }, { refresh: options.refresh });
    if (!membership) throw notAMember();
    const organization = await em.findOne(OrganizationSchema, { id: organizationId }, { refresh: options.refresh });
    if (!organization) throw notAMember();
    return { membership, organization };
  }

  async get(em: EntityManager, principal: Principal, organizationId: string): Promise<MyOrganizationView> {
    return readMembership(em, principal.userId, organizationId);
  }

  async listMine(em: EntityManager, userId: string, request: PageRequest) {
    const page = await findPage(em, MembershipSchema, { userId }, request, (membership) => membership);
    const organizations = await em.find(OrganizationSchema, { id: { $in: page.items.map((m) => m.organizationId) } });
    const byId = new Map(organizations.map((org) => [org.id, org]));
    return {
      items: page.items.filter((m) => byId.has(m.organizationId)).map((m) => withRole(byId.get(m.organizationId)!, m)),
      nextCursor: page.nextCursor,
    };
  }

  /** Every membership of a user, with its organization, oldest first (see the free function below). */
  membershipsOfUser(em: EntityManager, userId: string): Promise<MyOrganizationView[]> {
    return membershipsOfUser(em, userId);
  }

  /**
   * A page of members, newest first. A read every member's app makes often: in plain SQL (two statements, both on
   * indexes: the (organization, user) unique pair, then (organization, createdAt, id)), as getMe and refreshTokens are.
   */
  async listMembers(em: EntityManager, principal: Principal, organizationId: string, request: PageRequest) {
    await readMembership(em, principal.userId, organizationId);
    const db = em as SqlEntityManager;
    const after = request.cursor ? decodeCursor(request.cursor) : undefined;
    const rows = await db.execute<Row[]>(
      `select m.id, m.user_id, m.role, m.created_at, u.email, u.name from memberships m join users u on u.id = m.user_id
        where m.organization_id = ?${after ? ' and m.created_at <= ? and (m.created_at < ? or m.id < ?)' : ''}
        order by m.created_at desc, m.id desc limit ?`,
      [organizationId, ...(after ? [after.createdAt, after.createdAt, after.id] : []), request.limit + 1],
    );
    const members = rows.map((row) => ({
      id: String(row.id),
      createdAt: asDate(row.created_at),
      view: {
        userId: String(row.user_id),
        email: String(row.email),
        name: row.name === null || row.name === undefined ? null : String(row.name),
        role: String(row.role) as OrganizationRole,
        joinedAt: asDate(row.created_at).toISOString(),
      },
    }));
    return page(members, request.limit, (member) => member.view);
  }

  async listInvitations(em: EntityManager, principal: Principal, organizationId: string, request: PageRequest) {
    const { membership } = await this.membershipOf(em, principal.userId, organizationId);
    roleRules.invite(membership.role, 'member');
    const where = { organizationId, acceptedAt: null, revokedAt: null, expiresAt: { $gt: this.clock.now() } };
    return findPage(em, InvitationSchema, where, request, toInvitationView);
  }

  /** The organization an access token is scoped to, as getMe shows it (the token's scope was checked live). */
  async activeOrganization(em: EntityManager, principal: Principal): Promise<ActiveOrganizationView | null> {
    if (!principal.organization) return null;
    const row = await (em as SqlEntityManager).execute<Row>('select name, slug from organizations where id = ?', [principal.organization.id], 'get');
    if (!row) return null;
    return { id: principal.organization.id, name: String(row.name), slug: String(row.slug), role: principal.organization.role };
  }

  async adminList(em: EntityManager, filter: { name?: string; memberId?: string } & PageRequest) {
    const where: Record<string, unknown> = {};
    // A prefix as a range (as adminListUsers does for emails): no LIKE wildcards to escape, and the index serves it.
    if (filter.name) {
      const prefix = nameKeyOf(filter.name);
      where.nameKey = { $gte: prefix, $lt: `${prefix}\uffff` };
    }
    if (filter.memberId) {
      const ids = (await em.find(MembershipSchema, { userId: filter.memberId }, { fields: ['organizationId'] })).map((m) => m.organizationId);
      where.id = { $in: ids };
    }
    const page = await findPage(em, OrganizationSchema, where, filter, (org) => org);
    const counts = new Map<string, { members: number; owners: number }>();
    if (page.items.length) {
      const rows = await (em as SqlEntityManager).execute<{ organization_id: string; members: number | string; owners: number | string | null }[]>(
        `select organization_id, count(*) as members, sum(case when role = 'owner' then 1 else 0 end) as owners
           from memberships where organization_id in (${page.items.map(() => '?').join(', ')}) group by organization_id`,
        page.items.map((org) => org.id),
      );
      for (const row of rows) counts.set(String(row.organization_id), { members: Number(row.members), owners: Number(row.owners ?? 0) });
    }
    return {
      items: page.items.map((org) => ({
        ...toOrganizationView(org),
        memberCount: counts.get(org.id)?.members ?? 0,
        ownerCount: counts.get(org.id)?.owners ?? 0,
      })),
      nextCursor: page.nextCursor,
    };
  }

  // --- changes (each one transaction; see the class comment) ---------------------------------------------------

  async create(em: EntityManager, principal: Principal, input: { name: string; slug?: string }): Promise<MyOrganizationView> {
    const name = input.name.trim();
    for (let attempt = 0; ; attempt++) {
      // Without an asked-for slug, a taken one gets a short random suffix (and another on a lost race).
      const base = input.slug ?? slugFrom(name);
      const slug = input.slug || attempt === 0 ? base : `${base.slice(0, 41)}-${randomBytes(3).toString('hex')}`;
      try {
        return await em.transactional(async (tx) => {
          if (await tx.count(OrganizationSchema, { slug })) throw slugTaken(slug);
          const now = this.clock.now();
          const organization = tx.create(OrganizationSchema, { id: randomUUID(), name, nameKey: nameKeyOf(name), slug, createdAt: now, updatedAt: now });
          const membership = tx.create(MembershipSchema, { id: randomUUID(), organizationId: organization.id, userId: principal.userId, role: 'owner', createdAt: now });
          await webhookEvents.emit(tx, now, 'organization.created', organizationData(organization));
          await webhookEvents.emit(tx, now, 'organization.member.added', membershipData(membership));
          await tx.flush();
          return withRole(organization, membership);
        });
      } catch (error) {
        const taken = error instanceof UniqueConstraintViolationException || (error instanceof ProblemError && error.code === 'slug-taken');
        if (!taken || input.slug || attempt >= 4) throw error instanceof UniqueConstraintViolationException ? slugTaken(slug) : error;
      }
    }
  }

  async update(em: EntityManager, principal: Principal, organizationId: string, changes: { name?: string; slug?: string }): Promise<MyOrganizationView> {
    try {
      return await em.transactional(async (tx) => {
        await this.lock(tx, organizationId);
        const { membership, organization } = await this.membershipOf(tx, principal.userId, organizationId, { refresh: true });
        roleRules.update(membership.role);
        if (changes.slug !== undefined && changes.slug !== organization.slug) {
          if (await tx.count(OrganizationSchema, { slug: changes.slug })) throw slugTaken(changes.slug);
          organization.slug = changes.slug;
        }
        if (changes.name !== undefined) {
          organization.name = changes.name.trim();
          organization.nameKey = nameKeyOf(changes.name);
        }
        organization.updatedAt = this.clock.now();
        await webhookEvents.emit(tx, organization.updatedAt, 'organization.updated', organizationData(organization));
        await tx.flush();
        return withRole(organization, membership);
      });
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw slugTaken(changes.slug ?? '');
      throw error;
    }
  }

  /** Deletes the organization, its memberships and invitations; sessions that had it active lose their scope. */
  async delete(em: EntityManager, principal: Principal, organizationId: string): Promise<void> {
    await em.transactional(async (tx) => {
      await this.lock(tx, organizationId);
      const { membership, organization } = await this.membershipOf(tx, principal.userId, organizationId, { refresh: true });
      roleRules.delete(membership.role);
      // One event for the organization; its memberships and invitations go with it without an event each.
      await webhookEvents.emit(tx, this.clock.now(), 'organization.deleted', organizationData(organization));
      const scoped = await tx.find(SessionSchema, { activeOrganizationId: organizationId }, { fields: ['userId'] });
      await tx.nativeUpdate(SessionSchema, { activeOrganizationId: organizationId }, { activeOrganizationId: null });
      await tx.nativeDelete(InvitationSchema, { organizationId });
      const members = await tx.find(MembershipSchema, { organizationId }, { fields: ['userId'] });
      await tx.nativeDelete(MembershipSchema, { organizationId });
      await tx.nativeDelete(OrganizationSchema, { id: organizationId });
      for (const userId of new Set([...scoped, ...members].map((row) => row.userId))) await this.invalidations.userChanged(tx, userId);
    });
  }

  async updateMember(em: EntityManager, principal: Principal, organizationId: string, userId: string, role: OrganizationRole): Promise<MemberView> {
    return em.transactional(async (tx) => {
      await this.lock(tx, organizationId);
      const { membership: actor } = await this.membershipOf(tx, principal.userId, organizationId, { refresh: true });
      const target = await this.memberOrFail(tx, organizationId, userId);
      roleRules.changeRole(actor.role, target.role, role);
      return this.setRole(tx, target, role);
    });
  }

  /**
   * A server administrator (the account's `admin` role, not a role in the organization) sets a member's role, any
   * role: how an organization whose last owner's account was deleted gets an owner again. Not a member itself, so no
   * role rule applies, but the last-owner rule does, under the same lock as the members' own changes. Returns the
   * member and the role it had. `404 not-found` for an unknown organization or a user who is not a member.
   */
  async adminSetMemberRole(em: EntityManager, organizationId: string, userId: string, role: OrganizationRole): Promise<{ member: MemberView; previousRole: OrganizationRole }> {
    return em.transactional(async (tx) => {
      await this.lock(tx, organizationId);
      if (!(await tx.count(OrganizationSchema, { id: organizationId }))) {
        throw new ProblemError('not-found', { detail: 'There is no organization with this id.' });
      }
      const target = await this.memberOrFail(tx, organizationId, userId);
      const previousRole = target.role;
      return { member: await this.setRole(tx, target, role), previousRole };
    });
  }

  /** Removes `userId` from the organization; with the caller's own id, the caller leaves. */
  async removeMember(em: EntityManager, principal: Principal, organizationId: string, userId: string): Promise<void> {
    await em.transactional(async (tx) => {
      await this.lock(tx, organizationId);
      const { membership: actor } = await this.membershipOf(tx, principal.userId, organizationId, { refresh: true });
      const target = userId === principal.userId ? actor : await this.memberOrFail(tx, organizationId, userId);
      if (userId !== principal.userId) roleRules.remove(actor.role, target.role);
      if (target.role === 'owner') await this.assertAnotherOwner(tx, organizationId, userId);
      await this.endMembership(tx, target);
    });
  }

  /**
   * Invites `email` with `role` and mails the link; replaces the email's pending invitation to this organization.
   * The same answer, and the same work, whether or not the email has an account.
   */
  async invite(em: EntityManager, principal: Principal, organizationId: string, input: { email: string; role: OrganizationRole }): Promise<InvitationView> {
    const email = normaliseEmail(input.email);
    return em.transactional(async (tx) => {
      await this.lock(tx, organizationId);
      const { membership, organization } = await this.membershipOf(tx, principal.userId, organizationId, { refresh: true });
      roleRules.invite(membership.role, input.role);
      // One query whether or not the email has an account: a member's email is all it can tell, and members are listed.
      const [{ members }] = await (tx as SqlEntityManager).execute<{ members: number | string }[]>(
        'select count(*) as members from memberships m join users u on u.id = m.user_id where m.organization_id = ? and u.email = ?',
        [organizationId, email],
      );
      if (Number(members) > 0) throw new ProblemError('already-a-member', { detail: 'This email is a member of the organization already.' });
      const now = this.clock.now();
      // A new invitation replaces the email's pending one: that one is revoked (and its event says so).
      const replaced = await tx.find(InvitationSchema, { organizationId, email, acceptedAt: null, revokedAt: null });
      for (const earlier of replaced) await webhookEvents.emit(tx, now, 'invitation.revoked', invitationData(earlier));
      await tx.nativeUpdate(InvitationSchema, { organizationId, email, acceptedAt: null, revokedAt: null }, { revokedAt: now });
      const token = randomSecret();
      const invitation = tx.create(InvitationSchema, {
        id: randomUUID(),
        organizationId,
        email,
        role: input.role,
        tokenHash: hashToken(token),
        invitedBy: principal.userId,
        createdAt: now,
        expiresAt: addSeconds(now, this.options.invitationTtlSeconds),
        acceptedAt: null,
        acceptedBy: null,
        revokedAt: null,
      });
      const inviter = await tx.findOne(UserSchema, { id: principal.userId }, { fields: ['name'] });
      this.mailbox.queue(tx, now, email, {
        kind: 'invitation',
        link: `${this.options.appUrl}/accept-invitation?token=${encodeURIComponent(token)}`,
        organizationName: organization.name,
        role: input.role,
        inviterName: inviter?.name ?? null,
        ttlSeconds: this.options.invitationTtlSeconds,
      });
      await webhookEvents.emit(tx, now, 'invitation.created', invitationData(invitation));
      await tx.flush();
      return toInvitationView(invitation);
    });
  }

  async revokeInvitation(em: EntityManager, principal: Principal, organizationId: string, invitationId: string): Promise<void> {
    await em.transactional(async (tx) => {
      await this.lock(tx, organizationId);
      const { membership } = await this.membershipOf(tx, principal.userId, organizationId, { refresh: true });
      roleRules.invite(membership.role, 'member');
      const invitation = await tx.findOne(InvitationSchema, { id: invitationId, organizationId, acceptedAt: null, revokedAt: null, expiresAt: { $gt: this.clock.now() } });
      if (!invitation) throw new ProblemError('not-found', { detail: 'There is no pending invitation with this id in this organization.' });
      roleRules.invite(membership.role, invitation.role);
      await tx.nativeUpdate(InvitationSchema, { id: invitation.id, revokedAt: null }, { revokedAt: this.clock.now() });
      await webhookEvents.emit(tx, this.clock.now(), 'invitation.revoked', invitationData(invitation));
    });
  }

  /**
   * Joins the organization of the invitation `token` with its role. Only the account whose verified email is the
   * invited one; the invitation is spent by a conditional update, so that of several accepts at once exactly one joins.
   */
  async acceptInvitation(em: EntityManager, principal: Principal, token: string): Promise<MyOrganizationView> {
    const found = await em.findOne(InvitationSchema, { tokenHash: hashToken(token) });
    if (!found) throw new ProblemError('invitation-invalid', { detail: 'The invitation is unknown, was revoked or replaced.' });
    return em.transactional(async (tx) => {
      await this.lock(tx, found.organizationId);
      const invitation = await tx.findOneOrFail(InvitationSchema, { id: found.id }, { refresh: true });
      const user = await tx.findOne(UserSchema, { id: principal.userId, deletedAt: null });
      if (!user || !user.emailVerified || normaliseEmail(user.email) !== invitation.email) {
        throw new ProblemError('invitation-email-mismatch', { detail: 'Sign in with the account of the invited email address to accept.' });
      }
      const now = this.clock.now();
      if (invitation.acceptedAt) throw new ProblemError('invitation-used', { detail: 'This invitation was accepted already.' });
      if (invitation.revokedAt) throw new ProblemError('invitation-invalid', { detail: 'The invitation was revoked or replaced by a newer one.' });
      if (invitation.expiresAt <= now) throw new ProblemError('invitation-expired', { detail: 'Ask the organization for a new invitation.' });
      const organization = await tx.findOne(OrganizationSchema, { id: invitation.organizationId });
      if (!organization) throw new ProblemError('invitation-invalid', { detail: 'The organization no longer exists.' });
      if (await tx.count(MembershipSchema, { organizationId: organization.id, userId: user.id })) {
        throw new ProblemError('already-a-member', { detail: 'You are a member of this organization already.' });
      }
      const spent = await tx.nativeUpdate(
        InvitationSchema,
        { id: invitation.id, acceptedAt: null, revokedAt: null, expiresAt: { $gt: now } },
        { acceptedAt: now, acceptedBy: user.id },
      );
      if (spent !== 1) throw new ProblemError('invitation-used', { detail: 'This invitation was accepted already.' });
      const membership = tx.create(MembershipSchema, { id: randomUUID(), organizationId: organization.id, userId: user.id, role: invitation.role, createdAt: now });
      await webhookEvents.emit(tx, now, 'invitation.accepted', invitationData(invitation));
      await webhookEvents.emit(tx, now, 'organization.member.added', membershipData(membership));
      await tx.flush();
      return withRole(organization, membership);
    }).catch((error: unknown) => {
      // The unique (organization, user) pair: a concurrent accept of another invitation of the same email won.
      if (error instanceof UniqueConstraintViolationException) throw new ProblemError('already-a-member', { detail: 'You are a member of this organization already.' });
      throw error;
    });
  }

  /**
   * Makes `organizationId` (or none) the active organization of the caller's session. Returns what the new access
   * token is scoped to. Tokens scoped to the session's previous organization stop working (announced like a change).
   */
  async setActive(em: EntityManager, principal: Principal, organizationId: string | null): Promise<{ session: Session; user: User; organization: { id: string; role: OrganizationRole } | null }> {
    return em.transactional(async (tx) => {
      let organization: { id: string; role: OrganizationRole } | null = null;
      if (organizationId) {
        await this.lock(tx, organizationId);
        const { membership } = await this.membershipOf(tx, principal.userId, organizationId, { refresh: true });
        organization = { id: organizationId, role: membership.role };
      }
      const session = await tx.findOne(SessionSchema, { id: principal.sessionId, userId: principal.userId, revokedAt: null }, { refresh: true });
      const user = await tx.findOne(UserSchema, { id: principal.userId, deletedAt: null });
      if (!session || !user) throw new ProblemError('invalid-access-token', { detail: 'The session of this access token has ended.' });
      if (session.activeOrganizationId !== organizationId) {
        await tx.nativeUpdate(SessionSchema, { id: session.id }, { activeOrganizationId: organizationId });
        session.activeOrganizationId = organizationId;
        await this.invalidations.sessionChanged(tx, session.id);
      }
      return { session, user, organization };
    });
  }

  /**
   * Account deletion (soft, by the owner or an administrator, and the purge): the account's memberships go, in the
   * caller's transaction. An organization whose last owner this was keeps its other members (adminListOrganizations
   * shows it with ownerCount 0; adminSetMemberRole gives it an owner). Invitations the account sent stay valid.
   */
  removeMembershipsOf(em: EntityManager, userIds: string[]): Promise<Membership[]> {
    return removeMembershipsOf(em, userIds, this.clock.now());
  }

  // --- helpers ---------------------------------------------------------------------------------------------------

  private lock(tx: EntityManager, organizationId: string): Promise<void> {
    return this.locks.lock(tx, `pulse-auth:organization:${organizationId}`);
  }

  private async memberOrFail(tx: EntityManager, organizationId: string, userId: string): Promise<Membership> {
    const membership = await tx.findOne(MembershipSchema, { organizationId, userId }, { refresh: true });
    if (!membership) throw new ProblemError('not-found', { detail: 'This user is not a member of the organization.' });
    return membership;
  }

  /**
   * Gives `target` the role `role` once the caller's role rules passed: `409 last-owner` for demoting the last owner;
   * a real change announces itself (Invalidations), so the member's organization-scoped tokens fail at once.
   * Call with the organization's lock held.
   */
  private async setRole(tx: EntityManager, target: Membership, role: OrganizationRole): Promise<MemberView> {
    if (target.role === 'owner' && role !== 'owner') await this.assertAnotherOwner(tx, target.organizationId, target.userId);
    if (target.role !== role) {
      target.role = role;
      await webhookEvents.emit(tx, this.clock.now(), 'organization.member.updated', membershipData(target));
      await tx.flush();
      await this.invalidations.userChanged(tx, target.userId);
    }
    const user = await tx.findOneOrFail(UserSchema, { id: target.userId }, { fields: ['email', 'name'] });
    return toMemberView(target, user);
  }

  /** `409 last-owner` unless an owner other than `userId` remains. Call with the organization's lock held. */
  private async assertAnotherOwner(tx: EntityManager, organizationId: string, userId: string): Promise<void> {
    const others = await tx.count(MembershipSchema, { organizationId, role: 'owner', userId: { $ne: userId } });
    if (others === 0) throw lastOwner();
  }

  private async endMembership(tx: EntityManager, membership: Membership): Promise<void> {
    await tx.nativeDelete(MembershipSchema, { id: membership.id });
    await webhookEvents.emit(tx, this.clock.now(), 'organization.member.removed', membershipData(membership));
    await tx.nativeUpdate(SessionSchema, { userId: membership.userId, activeOrganizationId: membership.organizationId }, { activeOrganizationId: null });
    await this.invalidations.userChanged(tx, membership.userId);
  }
}

/**
 * The memberships of deleted accounts go (see Organizations.removeMembershipsOf), in the caller's transaction. A free
 * function so that account deletion (users/deletion.ts) can call it without the Organizations object.
 */
export async function removeMembershipsOf(em: EntityManager, userIds: string[], now: Date): Promise<Membership[]> {
  if (userIds.length === 0) return [];
  // Read first: what went is what the webhook events (organization.member.removed) are about.
  const removed = await em.find(MembershipSchema, { userId: { $in: userIds } });
  if (removed.length === 0) return [];
  for (const membership of removed) await webhookEvents.emit(em, now, 'organization.member.removed', membershipData(membership));
  await em.flush(); // the purge job clears its EntityManager between batches: the events are written before that
  await em.nativeUpdate(SessionSchema, { userId: { $in: userIds }, activeOrganizationId: { $ne: null } }, { activeOrganizationId: null });
  await em.nativeDelete(MembershipSchema, { id: { $in: removed.map((m) => m.id) } });
  return removed;
}

/**
 * Every membership of a user, with its organization and the user's role, oldest first: what exportMyData (and any
 * view of the account as a whole) needs. Two queries, whatever the number. A free function, like
 * removeMembershipsOf, so that other areas need not hold the Organizations object.
 */
export async function membershipsOfUser(em: EntityManager, userId: string): Promise<MyOrganizationView[]> {
  const memberships = await em.find(MembershipSchema, { userId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
  if (memberships.length === 0) return [];
  const organizations = await em.find(OrganizationSchema, { id: { $in: memberships.map((m) => m.organizationId) } });
  const byId = new Map(organizations.map((org) => [org.id, org]));
  return memberships.filter((m) => byId.has(m.organizationId)).map((m) => withRole(byId.get(m.organizationId)!, m));
}

/** The public shapes of the organization events (§5.3): no token hash, no inviter's details. */
const organizationData = (organization: Organization) => ({
  organization: {
    id: organization.id,
    name: organization.name,
    slug: organization.slug,
    createdAt: organization.createdAt.toISOString(),
    updatedAt: organization.updatedAt.toISOString(),
  },
});

const membershipData = (membership: Membership) => ({
  membership: { organizationId: membership.organizationId, userId: membership.userId, role: membership.role, createdAt: membership.createdAt.toISOString() },
});

const invitationData = (invitation: Invitation) => ({
  invitation: { id: invitation.id, organizationId: invitation.organizationId, email: invitation.email, role: invitation.role, expiresAt: invitation.expiresAt.toISOString() },
});
