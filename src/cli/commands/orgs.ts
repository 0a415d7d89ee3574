import { CliError, UsageError, withServices, type CommandContext } from '../context.js';
import type { Command } from '../command.js';

const USAGE = [
  'Usage: pulse-auth orgs list [--name <prefix>] [--member <userId>] [--limit <n>]',
  '       pulse-auth orgs set-role <orgId> <email> <owner|admin|member>',
].join('\n');

const ROLES = ['owner', 'admin', 'member'] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Lists organizations as adminListOrganizations does (newest first, with member and owner counts), and sets a
 * member's role as adminSetOrganizationMemberRole does (the same domain function: lock, last-owner rule, invalidation).
 */
export const orgsCommand: Command = {
  name: 'orgs',
  synopsis: 'orgs list [options] | orgs set-role <orgId> <email> <role>',
  summary: 'list organizations with their member and owner counts; set a member\'s role',
  description: [
    'orgs list [--name <prefix>] [--member <userId>] [--limit <n>]',
    'orgs set-role <orgId> <email> <owner|admin|member>',
    '',
    'list prints one organization a line, newest first: id, slug, members, owners, created, name. --name keeps those',
    'whose name starts with the prefix (case does not matter), --member those a user id belongs to; --limit caps the',
    'lines (100 by default). An organization with 0 owners lost its last owner to an account deletion: make one of its',
    'members an owner with set-role.',
    'set-role gives the member with this email the role owner, admin or member, as adminSetOrganizationMemberRole does:',
    'the last owner of an organization that has owners cannot be demoted, and the member\'s organization-scoped access',
    'tokens stop working at once. Example:',
    '  pulse-auth orgs set-role 7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d ana@example.com owner',
  ].join('\n'),
  options: { name: { type: 'string' }, member: { type: 'string' }, limit: { type: 'string', short: 'n' } },
  positionals: { min: 1, max: 4 },
  async run(context) {
    const [subcommand, ...rest] = context.positionals;
    if (subcommand === 'set-role') return setRole(context, rest);
    if (subcommand !== 'list') throw new UsageError(`unknown orgs subcommand "${subcommand}"`, USAGE);
    if (rest.length) throw new UsageError('orgs list takes no more arguments', USAGE);
    const limit = context.values.limit === undefined ? 100 : Number(context.values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new UsageError('--limit takes a whole number from 1 to 100000', USAGE);
    const member = context.values.member as string | undefined;
    if (member !== undefined && !/^[0-9a-f-]{36}$/i.test(member)) throw new UsageError('--member takes a user id (a UUID)', USAGE);
    await withServices(context, async (services) => {
      const em = services.orm.em.fork();
      let cursor: string | undefined;
      let shown = 0;
      context.out(['id', 'slug', 'members', 'owners', 'created', 'name'].join('\t'));
      do {
        const page = await services.organizations.adminList(em, {
          name: context.values.name as string | undefined,
          memberId: member,
          limit: Math.min(100, limit - shown),
          cursor,
        });
        for (const org of page.items) context.out([org.id, org.slug, org.memberCount, org.ownerCount, org.createdAt, org.name].join('\t'));
        shown += page.items.length;
        cursor = page.nextCursor ?? undefined;
        em.clear();
      } while (cursor && shown < limit);
    });
  },
};

/** `orgs set-role <orgId> <email> <role>`: the administrator's role change, audited as the HTTP operation is. */
async function setRole(context: CommandContext, args: string[]): Promise<void> {
  if (args.length !== 3) throw new UsageError('orgs set-role takes <orgId> <email> <role>', USAGE);
  const [orgId, rawEmail, role] = args;
  if (!UUID.test(orgId)) throw new UsageError('<orgId> is an organization id (a UUID)', USAGE);
  if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`<role> is one of ${ROLES.join(', ')}`, USAGE);
  const { UserSchema } = await import('../../db/entities.js');
  const { normaliseEmail } = await import('../../domain/users/views.js');
  const { ProblemError } = await import('../../domain/kernel/problem.js');
  const email = normaliseEmail(rawEmail);
  await withServices(context, async (services) => {
    const em = services.orm.em.fork();
    const user = await em.findOne(UserSchema, { email, deletedAt: null }, { fields: ['id'] });
    if (!user) throw new CliError(`there is no account ${email}`);
    try {
      const { member, previousRole } = await services.organizations.adminSetMemberRole(em, orgId, user.id, role as (typeof ROLES)[number]);
      await services.audit.record({
        action: 'admin.organization-member-updated',
        targetUserId: user.id,
        details: { organizationId: orgId, role, previousRole, via: 'cli orgs set-role' },
      });
      context.out(
        previousRole === member.role
          ? `${email} (id ${user.id}) is already ${role} of ${orgId}; nothing changed`
          : `${email} (id ${user.id}) is now ${role} of ${orgId} (was: ${previousRole})`,
      );
    } catch (error) {
      if (error instanceof ProblemError) throw new CliError(`${error.code}: ${error.detail ?? error.message}`);
      throw error;
    }
  });
}
