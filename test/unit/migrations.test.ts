import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { openDatabase } from '../../src/db/orm.js';

/** The migrations of each dialect must build exactly the schema the entities describe. */
describe('migrations', () => {
  it('leave SQLite matching the entities', async () => {
    const orm = await openDatabase(`file:${join(mkdtempSync(join(tmpdir(), 'pulse-auth-migrations-')), 'm.sqlite')}`);
    try {
      expect(await orm.getMigrator().checkMigrationNeeded()).to.equal(false);
    } finally {
      await orm.close(true);
    }
  });

  const postgres = process.env.TEST_DATABASE_URL;
  (postgres ? it : it.skip)('leave PostgreSQL matching the entities (needs TEST_DATABASE_URL)', async () => {
    const client = new pg.Client({ connectionString: postgres });
    await client.connect();
    await client.query('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;');
    await client.end();
    const orm = await openDatabase(postgres!);
    try {
      expect(await orm.getMigrator().checkMigrationNeeded()).to.equal(false);
    } finally {
      await orm.close(true);
    }
  });
});
