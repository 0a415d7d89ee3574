import type { Organizations } from '../domain/organizations/organizations.js';
import type { AccessTokens } from '../domain/tokens/access-tokens.js';
import { toSessionView, toUserView } from '../domain/users/views.js';
import type { MailKick, OperationGroup, OperationPolicies } from './group.js';

/**
 * The Organizations tag, and adminListOrganizations and adminSetOrganizationMemberRole (tagged Administration for the
 * admin check; their domain is here).
 */
export interface OrganizationDeps {
  organizations: Organizations;
  accessTokens: AccessTokens;
  mailer: MailKick;
}

type Ids =
  | 'createOrganization'
  | 'listMyOrganizations'
  | 'getOrganization'
  | 'updateOrganization'
  | 'deleteOrganization'
  | 'listOrganizationMembers'
  | 'updateOrganizationMember'
  | 'removeOrganizationMember'
  | 'createInvitation'
  | 'listInvitations'
  | 'revokeInvitation'
  | 'acceptInvitation'
  | 'setActiveOrganization'
  | 'adminListOrganizations'
  | 'adminSetOrganizationMemberRole';

/** Every change is audited (who, which organization, whom); refusals with 403/409 are audited as failures. */
export const organizationPolicies: OperationPolicies<Ids> = {
  createOrganization: { audit: 'organization.created' },
  updateOrganization: { audit: 'organization.updated' },
  deleteOrganization: { audit: 'organization.deleted' },
  updateOrganizationMember: { audit: 'organization.member-updated' },
  removeOrganizationMember: { audit: 'organization.member-removed' },
  // It mails whatever address it is given: limited per client IP and per invited email, like the other mailers.
  createInvitation: { audit: 'invitation.created', rateLimited: true },
  revokeInvitation: { audit: 'invitation.revoked' },
  acceptInvitation: { audit: 'invitation.accepted' },
  setActiveOrganization: { audit: 'organization.activated' },
  // The administrator is the actor, the path's user the target (the audit middleware's defaults).
  adminSetOrganizationMemberRole: { audit: 'admin.organization-member-updated' },
};

const pageOf = (query: { limit?: number; cursor?: string }) => ({ limit: query.limit ?? 20, cursor: query.cursor });

export const organizationOperations: OperationGroup<Ids, OrganizationDeps> = ({ organizations, accessTokens, mailer }) => ({
  async createOrganization({ body, ctx }) {
    const created = await organizations.create(ctx.state.em, ctx.state.principal!, body);
    ctx.state.audit = { details: { organizationId: created.id, slug: created.slug } };
    return { status: 201, body: created };
  },

  async listMyOrganizations({ query, ctx }) {
    return { status: 200, body: await organizations.listMine(ctx.state.em, ctx.state.principal!.userId, pageOf(query)) };
  },

  async getOrganization({ path, ctx }) {
    return { status: 200, body: await organizations.get(ctx.state.em, ctx.state.principal!, path.orgId) };
  },

  async updateOrganization({ path, body, ctx }) {
    ctx.state.audit = { details: { organizationId: path.orgId, changes: body } };
    return { status: 200, body: await organizations.update(ctx.state.em, ctx.state.principal!, path.orgId, body) };
  },

  async deleteOrganization({ path, ctx }) {
    ctx.state.audit = { details: { organizationId: path.orgId } };
    await organizations.delete(ctx.state.em, ctx.state.principal!, path.orgId);
    return { status: 204 };
  },

  async listOrganizationMembers({ path, query, ctx }) {
    return { status: 200, body: await organizations.listMembers(ctx.state.em, ctx.state.principal!, path.orgId, pageOf(query)) };
  },

  async updateOrganizationMember({ path, body, ctx }) {
    ctx.state.audit = { details: { organizationId: path.orgId, role: body.role } };
    return { status: 200, body: await organizations.updateMember(ctx.state.em, ctx.state.principal!, path.orgId, path.userId, body.role) };
  },

  async removeOrganizationMember({ path, ctx }) {
    ctx.state.audit = { details: { organizationId: path.orgId, left: path.userId === ctx.state.principal!.userId } };
    await organizations.removeMember(ctx.state.em, ctx.state.principal!, path.orgId, path.userId);
    return { status: 204 };
  },

  async createInvitation({ path, body, ctx }) {
    ctx.state.audit = { details: { organizationId: path.orgId, role: body.role } };
    const invitation = await organizations.invite(ctx.state.em, ctx.state.principal!, path.orgId, body);
    mailer.kick();
    ctx.state.audit.details!.invitationId = invitation.id;
    return { status: 201, body: invitation };
  },

  async listInvitations({ path, query, ctx }) {
    return { status: 200, body: await organizations.listInvitations(ctx.state.em, ctx.state.principal!, path.orgId, pageOf(query)) };
  },

  async revokeInvitation({ path, ctx }) {
    ctx.state.audit = { details: { organizationId: path.orgId, invitationId: path.invitationId } };
    await organizations.revokeInvitation(ctx.state.em, ctx.state.principal!, path.orgId, path.invitationId);
    return { status: 204 };
  },

  async acceptInvitation({ body, ctx }) {
    const joined = await organizations.acceptInvitation(ctx.state.em, ctx.state.principal!, body.token);
    ctx.state.audit = { details: { organizationId: joined.id, role: joined.role } };
    return { status: 200, body: joined };
  },

  async setActiveOrganization({ body, ctx }) {
    const principal = ctx.state.principal!;
    ctx.state.audit = { details: { organizationId: body.organizationId } };
    const { session, user, organization } = await organizations.setActive(ctx.state.em, principal, body.organizationId);
    const accessToken = await accessTokens.issue({ userId: user.id, sessionId: session.id, role: user.role, organization });
    ctx.set('Cache-Control', 'no-store');
    return {
      status: 200,
      body: {
        outcome: 'signed-in' as const,
        mfaRequired: false as const,
        accessToken,
        tokenType: 'Bearer' as const,
        expiresIn: accessTokens.ttlSeconds,
        user: toUserView(user),
        session: toSessionView(session, session.id),
      },
    };
  },

  async adminListOrganizations({ query, ctx }) {
    return { status: 200, body: await organizations.adminList(ctx.state.em, { ...query, ...pageOf(query) }) };
  },

  async adminSetOrganizationMemberRole({ path, body, ctx }) {
    ctx.state.audit = { details: { organizationId: path.orgId, role: body.role } };
    const { member, previousRole } = await organizations.adminSetMemberRole(ctx.state.em, path.orgId, path.userId, body.role);
    ctx.state.audit.details!.previousRole = previousRole;
    return { status: 200, body: member };
  },
});
