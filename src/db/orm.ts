import { DefaultLogger, MikroORM, type LoggerNamespace, type LogContext, type Options } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { Migrator } from '@mikro-orm/migrations';
import { mkdirSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { entities } from './entities.js';

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

/** What the connections are opened with, beyond the URL. */
export interface DatabaseOptions {
  /** Where MikroORM's and knex's own messages go (JSON lines); without it, MikroORM's defaults (the console). */
  logger?: Logger;
  /** PostgreSQL: statements running longer are cancelled (0: no limit). */
  statementTimeoutMs?: number;
  /** PostgreSQL: the `application_name` the server shows in pg_stat_activity and its logs. */
  applicationName?: string;
}

/**
 * The driver of the URL's dialect is imported when it is needed, not both at start: each costs start-up time and
 * memory (PostgreSQL's pulls in pg and its dialect, SQLite's the libsql binding), and a server uses one.
 */
export async function ormOptions(databaseUrl: string, options: DatabaseOptions = {}): Promise<Options> {
  const dialect = dialectOf(databaseUrl);
  const common = {
    entities,
    ...(options.logger ? ormLogging(options.logger) : {}),
    allowGlobalContext: false,
    forceUtcTimezone: true,
    // The schema generator must not touch tables it does not own (rate-limiter tables, for one).
    schemaGenerator: { skipTables: ['rate_limits'] },
  } satisfies Partial<Options>;
  if (dialect === 'sqlite') {
    const { LibSqlDriver } = await import('@mikro-orm/libsql');
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
    };
  }
  const { PostgreSqlDriver } = await import('@mikro-orm/postgresql');
  return {
    ...common,
    driver: PostgreSqlDriver,
    clientUrl: databaseUrl,
    // When PostgreSQL is unreachable, requests must fail fast (503) instead of waiting for the pool's defaults
    // (30 s to open a connection, 60 s in the queue): a connection attempt gives up after 3 s, and a request waits
    // at most 10 s in all for a connection.
    pool: { min: 0, max: 10, createTimeoutMillis: 3_000, acquireTimeoutMillis: 10_000 },
    // A statement that runs away (a lock wait, a scan gone wrong) is cancelled instead of holding its connection
    // and the request forever; the server names the connections for pg_stat_activity.
    driverOptions: {
      connection: {
        connectionTimeoutMillis: 3_000,
        application_name: options.applicationName ?? 'pulse-auth',
        ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
      },
      ...(options.logger ? { log: knexLogging(options.logger) } : {}),
    },
  };
}

/**
 * MikroORM's messages (deprecations, warnings, and queries when someone turns debug on) as JSON lines through the
 * app's logger, instead of plain console lines.
 */
function ormLogging(logger: Logger): Partial<Options> {
  class PinoOrmLogger extends DefaultLogger {
    override log(namespace: LoggerNamespace | string, message: string, context?: LogContext): void {
      if (!this.isEnabled(namespace as LoggerNamespace, context)) return;
      const level = context?.level === 'error' ? 'error' : context?.level === 'warning' || namespace === 'deprecated' ? 'warn' : 'debug';
      // eslint-disable-next-line no-control-regex
      logger[level]({ component: 'mikro-orm', namespace }, message.replace(/\x1b\[[0-9;]*m/g, ''));
    }
  }
  return { colors: false, loggerFactory: (loggerOptions) => new PinoOrmLogger(loggerOptions) };
}

/** knex writes its warnings ("Connection Error: …") with console.log unless given functions. */
function knexLogging(logger: Logger) {
  const line = (level: 'warn' | 'error' | 'debug') => (message: unknown) =>
    logger[level]({ component: 'knex' }, typeof message === 'string' ? message : String((message as Error)?.message ?? message));
  return { warn: line('warn'), error: line('error'), debug: line('debug'), deprecate: (method: string, alternative: string) => logger.warn({ component: 'knex' }, `${method} is deprecated, use ${alternative}`) };
}

interface SqliteConnection {
  exec(sql: string): void;
  prepare(sql: string): unknown;
}

/**
 * The libsql dialect prepares every statement anew. MikroORM 6 writes the values into the SQL text (it formats every
 * query itself before knex sees it), so most statements are one-offs; those without values (begin, commit,
 * savepoints, the readiness probe, fixed lookups) repeat at every request. The connection keeps the 100 statements
 * it used last: repeating ones stay prepared, and one-offs pass through instead of filling the cache for good.
 */
function reusePreparedStatements(connection: SqliteConnection): void {
  const prepare = connection.prepare.bind(connection);
  const recent = new Map<string, unknown>();
  connection.prepare = (sql: string) => {
    let statement = recent.get(sql);
    if (statement === undefined) statement = prepare(sql);
    else recent.delete(sql); // re-inserted below, as the newest
    recent.set(sql, statement);
    if (recent.size > PREPARED_STATEMENTS_KEPT) recent.delete(recent.keys().next().value!);
    return statement;
  };
}

const PREPARED_STATEMENTS_KEPT = 100;

/**
 * The migrator of `orm`: MikroORM's migrations package (umzug and its dependencies) and the dialect's migration
 * classes are imported the first time one is asked for, since a server whose schema is current never needs them.
 */
export async function migratorOf(orm: Orm, databaseUrl: string): Promise<Migrator> {
  const dialect = dialectOf(databaseUrl);
  if (!orm.config.getExtension('@mikro-orm/migrator')) {
    const [{ Migrator: MigratorExtension }, migrationsList] = await Promise.all([
      import('@mikro-orm/migrations'),
      dialect === 'sqlite'
        ? import('./migrations/sqlite/index.js').then((module) => module.sqliteMigrations)
        : import('./migrations/postgresql/index.js').then((module) => module.postgresqlMigrations),
    ]);
    orm.config.set('migrations', { ...orm.config.get('migrations'), ...migrationOptions(dialect), migrationsList });
    MigratorExtension.register(orm);
  }
  return orm.getMigrator() as Migrator;
}

function migrationOptions(dialect: Dialect) {
  return {
    tableName: MIGRATIONS_TABLE,
    path: `src/db/migrations/${dialect}`,
    pathTs: `src/db/migrations/${dialect}`,
    emit: 'ts' as const,
    snapshot: false,
    silent: true,
    transactional: true,
    allOrNothing: true,
  };
}

const MIGRATIONS_TABLE = 'mikro_orm_migrations';

/** The names of the dialect's migrations, from the files beside this module (`.ts` under tsx, `.js` in dist/). */
export function migrationNames(dialect: Dialect): string[] {
  return readdirSync(new URL(`./migrations/${dialect}/`, import.meta.url))
    .filter((file) => /^Migration\d+_\w+\.(js|ts)$/.test(file))
    .map((file) => file.replace(/\.(js|ts)$/, ''))
    .sort();
}

/** Whether a migration of this release is not in the database's record yet (or there is no record at all). */
async function migrationsPending(orm: Orm, databaseUrl: string): Promise<boolean> {
  try {
    const rows: { name: string }[] = await orm.em.getConnection().execute(`select name from ${MIGRATIONS_TABLE}`);
    const applied = new Set(rows.map((row) => row.name.replace(/\.(js|ts)$/, '')));
    return migrationNames(dialectOf(databaseUrl)).some((name) => !applied.has(name));
  } catch {
    return true; // no table yet: a new database
  }
}

/** Connects and applies pending migrations. */
export async function openDatabase(databaseUrl: string, options: { migrate?: boolean } & DatabaseOptions = {}): Promise<Orm> {
  if (dialectOf(databaseUrl) === 'sqlite') {
    const path = sqlitePath(databaseUrl);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  }
  const orm = await MikroORM.init(await ormOptions(databaseUrl, options));
  if (options.migrate !== false) await migrate(orm, databaseUrl);
  return orm;
}

/**
 * Applies pending migrations, and returns their names. On PostgreSQL, under an advisory lock held on a connection of
 * its own: instances that start together (or a rolling deploy) then migrate one after the other instead of racing
 * to create the same tables.
 */
export async function migrate(orm: Orm, databaseUrl: string): Promise<{ name: string }[]> {
  if (!(await migrationsPending(orm, databaseUrl))) return [];
  const migrator = await migratorOf(orm, databaseUrl);
  if (dialectOf(databaseUrl) === 'sqlite') return migrator.up();
  const { default: pg } = await import('pg');
  const lock = new pg.Client({ connectionString: databaseUrl });
  await lock.connect();
  try {
    await lock.query("select pg_advisory_lock(hashtext('pulse-auth:migrations'))");
    // One transaction for every pending migration (allOrNothing), without the statement timeout: building an index
    // over a large table may take longer than any request should.
    const connection = orm.em.getConnection();
    return await connection.transactional(async (transaction) => {
      await connection.execute('set local statement_timeout = 0', [], 'run', transaction);
      return migrator.up({ transaction });
    });
  } finally {
    await lock.end(); // ending the session releases the lock
  }
}

/** Whether `em` talks to PostgreSQL (advisory locks, row locks and NOTIFY exist only there). */
export function isPostgreSql(em: { getDriver(): object }): boolean {
  return em.getDriver().constructor.name === 'PostgreSqlDriver';
}
