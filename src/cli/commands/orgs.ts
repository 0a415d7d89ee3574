import { UsageError, withServices } from '../context.js';
import type { Command } from '../command.js';

const USAGE = 'Usage: pulse-auth orgs list [--name <prefix>] [--member <userId>] [--limit <n>]';

/** Lists organizations as adminListOrganizations does: newest first, with member and owner counts. */
export const orgsCommand: Command = {
  name: 'orgs',
  synopsis: 'orgs list [--name <prefix>] [--member <userId>] [--limit <n>]',
  summary: 'list organizations with their member and owner counts',
  description: [
    'Prints one organization a line, newest first: id, slug, members, owners, created, name. --name keeps those whose',
    'name starts with the prefix (case does not matter), --member those a user id belongs to; --limit caps the lines',
    '(100 by default). An organization with 0 owners lost its last owner to an account deletion: make one of its',
    'members an owner.',
  ].join('\n'),
  options: { name: { type: 'string' }, member: { type: 'string' }, limit: { type: 'string', short: 'n' } },
  positionals: { min: 1, max: 1 },
  async run(context) {
    if (context.positionals[0] !== 'list') throw new UsageError(`unknown orgs subcommand "${context.positionals[0]}"`, USAGE);
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
