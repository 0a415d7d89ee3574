import { Cron } from 'croner';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { Clock } from '../domain/kernel/clock.js';
import type { Counters } from '../infra/counters.js';
import type { MailDeliverer } from '../mail/deliverer.js';
import type { Metrics } from '../observability/metrics.js';
import { dialectOf } from '../db/orm.js';
import { tryAdvisoryLock } from '../infra/advisory-locks.js';
import {
  deleteExpiredCounters,
  deleteExpiredRegistrations,
  deleteOldAuditEvents,
  deleteOldLoginAttempts,
  deleteOldMail,
  deleteOldWebhookDeliveries,
  deleteSpentTokens,
  purgeDeletedAccounts,
  type JobCounts,
} from './cleanup.js';

/** What the jobs use of the services the composition root builds (server, CLI, adminRunCleanup). */
export interface JobDeps {
  config: Config;
  clock: Clock;
  orm: Pick<MikroORM, 'em'>;
  logger: Logger;
  metrics: Pick<Metrics, 'jobRuns'>;
  counters: Pick<Counters, 'store'>;
  mailer: Pick<MailDeliverer, 'deliverDue'>;
}

export interface Job {
  name: string;
  /** croner pattern, with seconds. */
  schedule: string;
  /**
   * Runs in one transaction that first takes a PostgreSQL advisory lock named after the job, so that of several
   * instances only one runs it at a time (the others skip that run). Not needed for mail delivery, which claims
   * each mail with an atomic update instead.
   */
  exclusive: boolean;
  run(em: EntityManager, now: Date): Promise<JobCounts>;
}

export function jobs(services: JobDeps): Job[] {
  const { config } = services;
  return [
    { name: 'deliver-mail', schedule: '*/10 * * * * *', exclusive: false, run: () => services.mailer.deliverDue() as Promise<never> },
    { name: 'delete-expired-registrations', schedule: '0 */5 * * * *', exclusive: true, run: (em, now) => deleteExpiredRegistrations(em, now) },
    {
      name: 'delete-spent-tokens',
      schedule: '0 17 * * * *',
      exclusive: true,
      run: (em, now) => deleteSpentTokens(em, now, config.SESSION_RETENTION_DAYS),
    },
    {
      name: 'delete-old-login-attempts',
      schedule: '0 47 3 * * *',
      exclusive: true,
      run: (em, now) => deleteOldLoginAttempts(em, now, config.LOGIN_HISTORY_DAYS),
    },
    {
      name: 'delete-old-mail',
      schedule: '0 27 4 * * *',
      exclusive: true,
      run: (em, now) => deleteOldMail(em, now, config.MAIL_OUTBOX_RETENTION_DAYS),
    },
    {
      name: 'delete-old-webhook-deliveries',
      schedule: '0 42 4 * * *',
      exclusive: true,
      run: (em, now) => deleteOldWebhookDeliveries(em, now, config.WEBHOOK_RETENTION_DAYS),
    },
    {
      name: 'delete-old-audit-events',
      schedule: '0 57 4 * * *',
      exclusive: true,
      run: (em, now) => deleteOldAuditEvents(em, now, config.AUDIT_RETENTION_DAYS),
    },
    ...(services.counters.store === 'database'
      ? [{ name: 'delete-expired-counters', schedule: '0 */10 * * * *', exclusive: true, run: deleteExpiredCounters }]
      : []),
    {
      name: 'purge-deleted-accounts',
      schedule: '0 37 * * * *',
      exclusive: true,
      run: (em, now) => purgeDeletedAccounts(em, now, config.DELETION_GRACE_DAYS),
    },
  ];
}

/** Runs one job now and logs what it did. Returns its counts, or `skipped` when another instance holds its lock. */
export async function runJob(services: JobDeps, job: Job): Promise<JobCounts | 'skipped'> {
  const started = Date.now();
  const now = services.clock.now();
  const em = services.orm.em.fork();
  const counts = await runWithin(services, job, em, now).catch((error) => {
    services.metrics.jobRuns.inc({ job: job.name, result: 'error' });
    throw error;
  });
  services.metrics.jobRuns.inc({ job: job.name, result: counts === 'skipped' ? 'skipped' : 'ok' });
  const total = counts === 'skipped' ? 0 : Object.values(counts).reduce((sum, n) => sum + n, 0);
  // A run that did nothing is not worth a line at info level every ten seconds.
  services.logger[total > 0 ? 'info' : 'debug']({ job: job.name, ...(counts === 'skipped' ? { skipped: true } : counts), ms: Date.now() - started }, 'job ran');
  return counts;
}

function runWithin(services: JobDeps, job: Job, em: EntityManager, now: Date): Promise<JobCounts | 'skipped'> {
  // SQLite means one instance: nothing to exclude, and a transaction around the whole job would hold the only
  // connection until it ends. The jobs delete in batches, each committed on its own.
  if (!job.exclusive || dialectOf(services.config.DATABASE_URL) !== 'postgresql') return job.run(em, now);
  return em.transactional(async (tx) => {
    if (!(await tryAdvisoryLock(tx, `pulse-auth:job:${job.name}`))) return 'skipped' as const;
    return job.run(tx, now);
  });
}

/** Runs every cleanup job now, one after the other (adminRunCleanup, `pulse-auth cleanup`). */
export async function runCleanup(services: JobDeps): Promise<Array<{ name: string; counts: JobCounts | 'skipped' }>> {
  const results = [];
  for (const job of jobs(services).filter((candidate) => candidate.exclusive)) {
    results.push({ name: job.name, counts: await runJob(services, job) });
  }
  return results;
}

/**
 * Schedules every job. `protect` keeps a run from starting while the previous one is still going. `stop()` ends
 * the schedule and waits for the runs in progress, so that shutdown closes the pool only after them.
 */
export function startJobs(services: JobDeps): { stop(): Promise<void> } {
  const running = new Set<Promise<unknown>>();
  const scheduled = jobs(services).map(
    (job) =>
      new Cron(job.schedule, { name: job.name, protect: true, catch: (error) => services.logger.error({ err: error, job: job.name }, 'job failed') }, async () => {
        const run = runJob(services, job);
        running.add(run);
        try {
          await run;
        } finally {
          running.delete(run);
        }
      }),
  );
  return {
    async stop() {
      scheduled.forEach((cron) => cron.stop());
      await Promise.allSettled([...running]);
    },
  };
}
