import type { Command } from '../command.js';

/** Applies pending migrations (the server does the same at start-up; this is for a separate deployment step). */
export const migrateCommand: Command = {
  name: 'migrate',
  synopsis: 'migrate',
  summary: 'apply pending database migrations to DATABASE_URL',
  description: 'The server applies them at start-up too; this is for deployments that migrate as a separate step.',
  positionals: { min: 0, max: 0 },
  async run(context) {
    const { openDatabase, migrate } = await import('../../db/orm.js');
    const { DATABASE_URL } = context.config();
    const orm = await openDatabase(DATABASE_URL, { migrate: false });
    try {
      const applied = await migrate(orm, DATABASE_URL);
      context.out(applied.length ? `applied: ${applied.map((migration) => migration.name).join(', ')}` : 'the database is up to date');
    } finally {
      await orm.close(true);
    }
  },
};
