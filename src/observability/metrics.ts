import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MikroORM } from '@mikro-orm/core';
import { OutboxMailSchema, WebhookDeliverySchema } from '../db/entities.js';
import type { Clock } from '../domain/kernel/clock.js';

/**
 * The Prometheus metrics: requests by operationId and status, sign-in outcomes, lockouts, the age of stuck mail,
 * delivery failures, job runs, and Node's own process metrics. One registry per app, so tests can run several apps.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'pulse_http_requests_total',
    help: 'HTTP requests by operationId and status',
    labelNames: ['operation', 'status'],
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'pulse_http_request_duration_seconds',
    help: 'HTTP request latency by operationId and status',
    labelNames: ['operation', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly signIns = new Counter({
    name: 'pulse_sign_ins_total',
    help: 'Sign-in outcomes (password, MFA and social): success, mfa-required, failure, locked, disabled',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly lockouts = new Counter({
    name: 'pulse_lockouts_total',
    help: 'Locks started after repeated failed sign-ins, by scope (account, ip)',
    labelNames: ['scope'],
    registers: [this.registry],
  });
  readonly mailFailures = new Counter({
    name: 'pulse_mail_delivery_failures_total',
    help: 'Failed mail delivery attempts (each is retried until MAIL_MAX_ATTEMPTS)',
    registers: [this.registry],
  });
  /** Probes behind pulse_dependency_up, by dependency name (the database always; Redis when configured). */
  private readonly probes = new Map<string, () => Promise<boolean>>();
  readonly dependencyUp = new Gauge({
    name: 'pulse_dependency_up',
    help: 'Whether a dependency answers (1) or not (0), by dependency: database (needed to serve), redis (optional: rate limits and lockouts hold per instance without it)',
    labelNames: ['dependency'],
    registers: [this.registry],
    collect: async () => {
      await Promise.all(
        [...this.probes].map(async ([dependency, probe]) => {
          const up = await probe().catch(() => false);
          this.dependencyUp.set({ dependency }, up ? 1 : 0);
        }),
      );
    },
  });
  private cacheStats?: () => { hits: number; misses: number };
  readonly cacheLookups = new Gauge({
    name: 'pulse_auth_cache_lookups',
    help: 'Lookups in the authentication caches (live sessions, account views) since the start, by result (hit, miss)',
    labelNames: ['result'],
    registers: [this.registry],
    collect: () => {
      const stats = this.cacheStats?.();
      if (!stats) return;
      this.cacheLookups.set({ result: 'hit' }, stats.hits);
      this.cacheLookups.set({ result: 'miss' }, stats.misses);
    },
  });
  readonly webhookDeliveries = new Counter({
    name: 'pulse_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome: sent (a 2xx), retried (failed, tried again later), failed (given up after WEBHOOK_MAX_ATTEMPTS)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly jobRuns = new Counter({
    name: 'pulse_job_runs_total',
    help: 'Scheduled job runs by job and result (ok, skipped, error)',
    labelNames: ['job', 'result'],
    registers: [this.registry],
  });

  /**
   * Nothing here moves with one request's hidden effects: a count of queued or delivered mail would show whether a
   * `forgotPassword` (or a sign-up, or a resend) found an account, one mail at a time. What is exposed about mail is
   * what an operator alerts on: how long the oldest mail has waited (in whole minutes), failed attempts, mail given up.
   */
  constructor(orm: MikroORM, clock: Clock) {
    collectDefaultMetrics({ register: this.registry, prefix: 'pulse_' });
    this.watchDependency('database', async () => {
      await orm.em.getConnection().execute('select 1');
      return true;
    });
    new Gauge({
      name: 'pulse_mail_outbox_oldest_pending_seconds',
      help: 'Age of the oldest mail waiting for delivery (queued or retrying), rounded down to whole minutes; 0 when none has waited a minute',
      registers: [this.registry],
      async collect() {
        const [oldest] = await orm.em
          .fork()
          .find(OutboxMailSchema, { sentAt: null, failedAt: null }, { orderBy: { createdAt: 'asc' }, limit: 1, fields: ['createdAt'] });
        const ageSeconds = oldest ? (clock.now().getTime() - oldest.createdAt.getTime()) / 1000 : 0;
        this.set(Math.max(0, Math.floor(ageSeconds / 60) * 60));
      },
    });
    new Gauge({
      name: 'pulse_mail_given_up',
      help: 'Mails given up after their last delivery attempt (kept in the outbox with their last error)',
      registers: [this.registry],
      async collect() {
        this.set(await orm.em.fork().count(OutboxMailSchema, { failedAt: { $ne: null } }));
      },
    });
    this.watchWebhooks(orm, clock);
  }

  /** The webhook queue: how many deliveries wait, and how long the oldest has waited. */
  private watchWebhooks(orm: MikroORM, clock: Clock): void {
    new Gauge({
      name: 'pulse_webhook_queue_depth',
      help: 'Webhook deliveries waiting (queued or retrying)',
      registers: [this.registry],
      async collect() {
        this.set(await orm.em.fork().count(WebhookDeliverySchema, { deliveredAt: null, failedAt: null }));
      },
    });
    new Gauge({
      name: 'pulse_webhook_oldest_pending_seconds',
      help: 'Age of the oldest webhook delivery waiting (queued or retrying), seconds; 0 when none waits',
      registers: [this.registry],
      async collect() {
        const [oldest] = await orm.em
          .fork()
          .find(WebhookDeliverySchema, { deliveredAt: null, failedAt: null }, { orderBy: { createdAt: 'asc' }, limit: 1, fields: ['createdAt'] });
        this.set(oldest ? Math.max(0, Math.floor((clock.now().getTime() - oldest.createdAt.getTime()) / 1000)) : 0);
      },
    });
  }

  /** Where pulse_auth_cache_lookups reads its figures. */
  watchCaches(stats: () => { hits: number; misses: number }): void {
    this.cacheStats = stats;
  }

  /** Adds a dependency to pulse_dependency_up, probed at each scrape. */
  watchDependency(name: string, probe: () => Promise<boolean>): void {
    this.probes.set(name, probe);
  }
}
