import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { migrate, migrationNames, migratorOf, openDatabase } from '../../src/db/orm.js';
import { sqliteMigrations } from '../../src/db/migrations/sqlite/index.js';
import { postgresqlMigrations } from '../../src/db/migrations/postgresql/index.js';

/** The migrations of each dialect must build exactly the schema the entities describe. */
describe('migrations', () => {
  it('leave SQLite matching the entities', async () => {
    const url = `file:${join(mkdtempSync(join(tmpdir(), 'pulse-auth-migrations-')), 'm.sqlite')}`;
    const orm = await openDatabase(url);
    try {
      expect(await (await migratorOf(orm, url)).checkMigrationNeeded()).to.equal(false);
      expect(await migrate(orm, url), 'a second run applies nothing').to.deep.equal([]);
    } finally {
      await orm.close(true);
    }
  });

  // The start-up check that skips loading the migrator reads the migration files' names; the migrator runs the
  // classes listed in each index. A migration file missing from its index (or the reverse) would make the two disagree.
  it('list in each index exactly the migration files beside it, in order', () => {
    expect(migrationNames('sqlite')).to.deep.equal(sqliteMigrations.map((migration) => migration.name));
    expect(migrationNames('postgresql')).to.deep.equal(postgresqlMigrations.map((migration) => migration.name));
  });

  const postgres = process.env.TEST_DATABASE_URL;
  (postgres ? it : it.skip)('leave PostgreSQL matching the entities (needs TEST_DATABASE_URL)', async () => {
    const client = new pg.Client({ connectionString: postgres });
    await client.connect();
    await client.query('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;');
    await client.end();
    const orm = await openDatabase(postgres!);
    try {
      expect(await (await migratorOf(orm, postgres!)).checkMigrationNeeded()).to.equal(false);
      expect(await migrate(orm, postgres!), 'a second run applies nothing').to.deep.equal([]);
    } finally {
      await orm.close(true);
    }
  });
});
