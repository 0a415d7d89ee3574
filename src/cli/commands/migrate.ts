import type { Command } from '../command.js';
import { CliError } from '../context.js';

/**
 * Applies pending migrations (the server does the same at start-up; this is for a separate deployment step), or with
 * `--check` only says whether the database is where this release expects it.
 */
export const migrateCommand: Command = {
  name: 'migrate',
  synopsis: 'migrate [--check]',
  summary: 'apply pending database migrations to DATABASE_URL (--check: only report, exit 1 if any is pending or the schema drifts)',
  description: [
    'The server applies them at start-up too; this is for deployments that migrate as a separate step.',
    '--check changes nothing: it lists the pending migrations, and when there are none compares the schema of the',
    'database with the entities of this release (MikroORM\'s schema diff) and prints the statements that would',
    'reconcile them. Exit code 0: up to date; 1: migrations pending or the schema drifts (or the database cannot be read).',
  ].join('\n'),
  options: { check: { type: 'boolean' } },
  positionals: { min: 0, max: 0 },
  async run(context) {
    const { openDatabase, migrate, migratorOf } = await import('../../db/orm.js');
    const { DATABASE_URL } = context.config();
    const orm = await openDatabase(DATABASE_URL, { migrate: false });
    try {
      if (!context.values.check) {
        const applied = await migrate(orm, DATABASE_URL);
        context.out(applied.length ? `applied: ${applied.map((migration) => migration.name).join(', ')}` : 'the database is up to date');
        return;
      }
      const pending = await (await migratorOf(orm, DATABASE_URL)).getPendingMigrations();
      if (pending.length > 0) {
        context.out(`pending: ${pending.map((migration) => migration.name).join(', ')}`);
        throw new CliError(`${pending.length} migration(s) pending; run \`pulse-auth migrate\``);
      }
      const drift = (await orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false })).trim();
      if (drift) {
        context.out(`the schema differs from the entities; statements that would reconcile them:\n${drift}`);
        throw new CliError('the database schema drifts from this release\'s entities (changed by hand, or a migration is missing)');
      }
      context.out('the database is up to date: no pending migration, the schema matches the entities');
    } finally {
      await orm.close(true);
    }
  },
};
