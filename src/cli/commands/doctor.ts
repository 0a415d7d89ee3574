import type { Command } from '../command.js';
import { CliError } from '../context.js';

/** How long each reachability check may take. */
const CHECK_TIMEOUT_MS = 5_000;

interface Check {
  name: string;
  /** What was found, secrets redacted; throws when the check fails. */
  run(): Promise<string>;
}

/**
 * Checks what a deployment depends on, one line each: the configuration (loaded, as the server would), the database
 * (connects, migrations), SMTP (connects and greets) and Redis (PING). Secrets never show: URLs without their
 * credentials, tokens only as set or unset.
 */
export const doctorCommand: Command = {
  name: 'doctor',
  synopsis: 'doctor',
  summary: 'check the configuration, the database, SMTP and Redis, and print what was found (secrets redacted)',
  description: [
    'Loads the configuration as the server does (a bad one exits with 78 and the list of bad keys), then tries the',
    'database (a query, pending migrations), SMTP (when SMTP_URL is set: connects and greets, sends nothing) and Redis',
    `(when REDIS_URL is set: PING), each within ${CHECK_TIMEOUT_MS / 1000} s. One line per check; exit code 1 when any fails.`,
  ].join('\n'),
  positionals: { min: 0, max: 0 },
  async run(context) {
    const config = context.config();
    const { withoutCredentials } = await import('../../config/load.js');
    const checks: Check[] = [
      {
        name: 'config',
        run: async () =>
          [
            `NODE_ENV=${config.NODE_ENV}`,
            `PUBLIC_URL=${config.PUBLIC_URL}`,
            `TRUST_PROXY=${config.TRUST_PROXY}`,
            `RATE_LIMIT_STORE=${config.RATE_LIMIT_STORE}`,
            `METRICS_TOKEN ${config.METRICS_TOKEN ? 'set' : 'unset (/metrics open)'}`,
            `SIGNING_KEY ${config.SIGNING_KEY ? 'set' : 'unset (generated keys)'}`,
            `providers: ${config.providers.map((provider) => provider.name).join(', ') || 'none'}`,
          ].join(', '),
      },
      {
        name: 'database',
        async run() {
          const { dialectOf, migratorOf, openDatabase } = await import('../../db/orm.js');
          const orm = await withTimeout(openDatabase(config.DATABASE_URL, { migrate: false }), 'connecting');
          try {
            await withTimeout(orm.em.getConnection().execute('select 1'), 'a query');
            const pending = await (await migratorOf(orm, config.DATABASE_URL)).getPendingMigrations();
            const state = pending.length ? `${pending.length} migration(s) pending (pulse-auth migrate)` : 'migrations up to date';
            return `${dialectOf(config.DATABASE_URL)} ${withoutCredentials(config.DATABASE_URL)}: reachable, ${state}`;
          } finally {
            await orm.close(true);
          }
        },
      },
      {
        name: 'smtp',
        async run() {
          if (!config.SMTP_URL) return `unset: the development outbox, .eml files in ${config.MAIL_DEV_DIR}`;
          const nodemailer = (await import('nodemailer')).default;
          const transporter = nodemailer.createTransport({ url: config.SMTP_URL, connectionTimeout: CHECK_TIMEOUT_MS, greetingTimeout: CHECK_TIMEOUT_MS });
          try {
            await withTimeout(transporter.verify(), 'connecting');
            return `${withoutCredentials(config.SMTP_URL)}: reachable, greeted (and login accepted, if it has one)`;
          } finally {
            transporter.close();
          }
        },
      },
      {
        name: 'redis',
        async run() {
          if (!config.REDIS_URL) return 'unset: counters in the database or in memory';
          const { Redis } = await import('ioredis');
          const redis = new Redis(config.REDIS_URL, { lazyConnect: true, connectTimeout: CHECK_TIMEOUT_MS, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
          redis.on('error', () => {});
          try {
            await withTimeout(redis.connect(), 'connecting');
            const answer = await withTimeout(redis.ping(), 'PING');
            return `${withoutCredentials(config.REDIS_URL)}: reachable (PING answered ${answer})`;
          } finally {
            redis.disconnect();
          }
        },
      },
    ];
    const failed: string[] = [];
    for (const check of checks) {
      try {
        context.out(`ok    ${check.name.padEnd(8)} ${await check.run()}`);
      } catch (error) {
        failed.push(check.name);
        context.out(`FAIL  ${check.name.padEnd(8)} ${redacted(error, config as unknown as Record<string, unknown>, withoutCredentials)}`);
      }
    }
    if (failed.length) throw new CliError(`failed: ${failed.join(', ')}`);
  },
};

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s (${what})`)), CHECK_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** An error's message with every secret of the configuration taken out (a driver may echo its connection string). */
function redacted(error: unknown, config: Record<string, unknown>, withoutCredentials: (url: string) => string): string {
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  let message = (error instanceof Error ? error.message || (error as NodeJS.ErrnoException).code || error.name : String(error)) + cause;
  for (const key of ['DATABASE_URL', 'SMTP_URL', 'REDIS_URL']) {
    const url = config[key];
    if (typeof url === 'string' && url) message = message.split(url).join(withoutCredentials(url));
  }
  for (const key of ['METRICS_TOKEN', 'SIGNING_KEY', 'GOOGLE_CLIENT_SECRET']) {
    const secret = config[key];
    if (typeof secret === 'string' && secret) message = message.split(secret).join('***');
  }
  return message.replace(/\s+/g, ' ').trim();
}
