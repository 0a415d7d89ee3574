/**
 * Applies pending migrations to DATABASE_URL and exits (`npm run migrate`). The server does the same at start-up;
 * this is for deployments that migrate as a separate step.
 */
import { existsSync } from 'node:fs';
import { loadConfig, ConfigError } from '../config/load.js';
import { openDatabase } from '../db/orm.js';

if (existsSync('.env')) process.loadEnvFile('.env');
try {
  const config = loadConfig(process.env);
  const orm = await openDatabase(config.DATABASE_URL, { migrate: false });
  const applied = await orm.getMigrator().up();
  console.log(applied.length ? `applied: ${applied.map((m) => m.name).join(', ')}` : 'the database is up to date');
  await orm.close(true);
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
