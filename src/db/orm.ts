import { MikroORM, type Options } from '@mikro-orm/core';
import { LibSqlDriver } from '@mikro-orm/libsql';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import pg from 'pg';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { entities } from './entities.js';
import { sqliteMigrations } from './migrations/sqlite/index.js';
import { postgresqlMigrations } from './migrations/postgresql/index.js';

export type Dialect = 'sqlite' | 'postgresql';
export type Orm = MikroORM;

export function dialectOf(databaseUrl: string): Dialect {
  return databaseUrl.startsWith('file:') ? 'sqlite' : 'postgresql';
}

/** The SQLite file path of a `file:` URL (`:memory:` stays as it is). */
export function sqlitePath(databaseUrl: string): string {
  const path = databaseUrl.slice('file:'.length);
  return path === ':memory:' ? path : resolve(path);
}

export function ormOptions(databaseUrl: string): Options {
  const dialect = dialectOf(databaseUrl);
  const common = {
    entities,
    allowGlobalContext: false,
    forceUtcTimezone: true,
    extensions: [Migrator],
    // The schema generator must not touch tables it does not own (rate-limiter tables, for one).
    schemaGenerator: { skipTables: ['rate_limits'] },
  } satisfies Partial<Options>;
  if (dialect === 'sqlite') {
    return {
      ...common,
      driver: LibSqlDriver,
      dbName: sqlitePath(databaseUrl),
      // One connection: SQLite has one writer, and a pool of one makes transactions queue instead of interleave.
      // The libsql binding runs statements synchronously on the event loop, so a commit's fsync stalls every request:
      // write-ahead logging with synchronous=NORMAL makes a commit an append (durable at the next checkpoint, and
      // never corrupt). The dialect reopens its connection every 10 s, so the settings go in afterCreate.
      pool: {
        min: 1,
        max: 1,
        afterCreate(connection: SqliteConnection, done: (error: Error | null, connection: unknown) => void) {
          try {
            connection.exec('pragma journal_mode = wal; pragma synchronous = normal; pragma foreign_keys = on; pragma busy_timeout = 5000');
            reusePreparedStatements(connection);
            done(null, connection);
          } catch (error) {
            done(error as Error, connection);
          }
        },
      } as Options['pool'],
      migrations: migrationOptions('sqlite'),
    };
  }
  return {
    ...common,
    driver: PostgreSqlDriver,
    clientUrl: databaseUrl,
    // When PostgreSQL is unreachable, requests must fail fast (503) instead of waiting for the pool's defaults
    // (30 s to open a connection, 60 s in the queue): a connection attempt gives up after 3 s, and a request waits
    // at most 10 s in all for a connection.
    pool: { min: 0, max: 10, createTimeoutMillis: 3_000, acquireTimeoutMillis: 10_000 },
    driverOptions: { connection: { connectionTimeoutMillis: 3_000 } },
    migrations: migrationOptions('postgresql'),
  };
}

interface SqliteConnection {
  exec(sql: string): void;
  prepare(sql: string): unknown;
}

/**
 * The libsql dialect prepares every statement anew, and parsing the SQL was a tenth of a small request's CPU time.
 * Statements are reusable (each call binds its own values), so the connection keeps the first 500 it prepares.
 */
function reusePreparedStatements(connection: SqliteConnection): void {
  const prepare = connection.prepare.bind(connection);
  const prepared = new Map<string, unknown>();
  connection.prepare = (sql: string) => {
    let statement = prepared.get(sql);
    if (statement === undefined) {
      statement = prepare(sql);
      if (prepared.size < 500) prepared.set(sql, statement);
    }
    return statement;
  };
}

function migrationOptions(dialect: Dialect): Options['migrations'] {
  return {
    tableName: 'mikro_orm_migrations',
    path: `src/db/migrations/${dialect}`,
    pathTs: `src/db/migrations/${dialect}`,
    emit: 'ts',
    snapshot: false,
    silent: true,
    transactional: true,
    allOrNothing: true,
    migrationsList: dialect === 'sqlite' ? sqliteMigrations : postgresqlMigrations,
  };
}

/** Connects and applies pending migrations. */
export async function openDatabase(databaseUrl: string, options: { migrate?: boolean } = {}): Promise<Orm> {
  if (dialectOf(databaseUrl) === 'sqlite') {
    const path = sqlitePath(databaseUrl);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  }
  const orm = await MikroORM.init(ormOptions(databaseUrl));
  if (options.migrate !== false) await migrate(orm, databaseUrl);
  return orm;
}

/**
 * Applies pending migrations. On PostgreSQL, under an advisory lock held on a connection of its own: instances that
 * start together (or a rolling deploy) then migrate one after the other instead of racing to create the same tables.
 */
export async function migrate(orm: Orm, databaseUrl: string) {
  if (dialectOf(databaseUrl) === 'sqlite') return orm.getMigrator().up();
  const lock = new pg.Client({ connectionString: databaseUrl });
  await lock.connect();
  try {
    await lock.query("select pg_advisory_lock(hashtext('pulse-auth:migrations'))");
    return await orm.getMigrator().up();
  } finally {
    await lock.end(); // ending the session releases the lock
  }
}
