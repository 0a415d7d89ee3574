import { randomUUID } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import type { EventSubscriber, FlushEventArgs, MikroORM, TransactionEventArgs, EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import { Agent, fetch } from 'undici';
import {
  WebhookAttemptSchema,
  WebhookDeliverySchema,
  WebhookEndpointSchema,
  WebhookEventSchema,
  type WebhookDelivery,
} from '../db/entities.js';
import { OutboxWorker, type DeliveryCounts, type DeliveryOutcome } from '../db/outbox.js';
import type { Clock } from '../domain/kernel/clock.js';
import type { WebhookEndpoints } from '../domain/webhooks/endpoints.js';
import { refusedAddress } from '../domain/webhooks/url-guard.js';
import type { Metrics } from '../observability/metrics.js';

const TIMEOUT_MS = 10_000;
const CLAIM_SECONDS = 60;
const BATCH = 50;
const BODY_CHARS = 1000;
const KICK_DELAY_MS = 15;

export interface WebhookDelivererOptions {
  maxAttempts: number;
  retrySeconds: number;
  maxRetrySeconds: number;
  allowPrivateNetworks: boolean;
  pollSeconds: number;
}

/**
 * Sends webhook deliveries through the shared outbox machinery (db/outbox.ts): claimed with `for update skip locked`
 * on PostgreSQL, so every instance can run it and none sends a delivery twice; retried with exponential backoff up to
 * WEBHOOK_MAX_ATTEMPTS; a claim that outlives a crashed process runs out and the delivery is tried again. Only each
 * endpoint's oldest undelivered delivery is claimable, so an endpoint gets its events in order even while one is
 * retried. Every attempt is recorded (status, response code, duration, the first 1,000 characters of the body).
 *
 * The connection goes to the address that was checked: the agent's `lookup` resolves the host, refuses the whole
 * answer if any address is loopback, private, link-local, CGNAT, metadata or unspecified (unless
 * WEBHOOK_ALLOW_PRIVATE_NETWORKS), and hands the socket exactly those addresses, so a DNS answer that changes
 * between the check and the connect (rebinding) cannot slip through. IP-literal hosts are checked before the call.
 */
export class WebhookDeliverer {
  private readonly worker: OutboxWorker<WebhookDelivery>;
  private readonly agent: Agent;
  private readonly marked = new WeakSet<EntityManager>();
  private soon?: NodeJS.Timeout;

  constructor(
    private readonly orm: MikroORM,
    private readonly endpoints: WebhookEndpoints,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly options: WebhookDelivererOptions,
  ) {
    const allowPrivate = () => this.options.allowPrivateNetworks;
    this.agent = new Agent({
      connect: {
        timeout: TIMEOUT_MS,
        lookup(hostname, lookupOptions, callback) {
          dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
            if (error) return callback(error, '', 0);
            const why = allowPrivate() ? null : addresses.map((a) => refusedAddress(a.address)).find(Boolean);
            if (why) return callback(Object.assign(new Error(`address refused: ${hostname} resolves to ${why}`), { code: 'EADDRREFUSED' }), '', 0);
            if ((lookupOptions as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
            callback(null, addresses[0].address, addresses[0].family);
          });
        },
      },
    });
    this.worker = new OutboxWorker<WebhookDelivery>(
      orm,
      {
        name: 'webhook',
        entity: WebhookDeliverySchema,
        table: 'webhook_deliveries',
        done: { column: 'delivered_at', property: 'deliveredAt' },
        failed: { column: 'failed_at', property: 'failedAt' },
        order: 'm.id',
        condition: {
          sql:
            'exists (select 1 from webhook_endpoints e where e.id = m.endpoint_id and e.enabled = ?) ' +
            'and not exists (select 1 from webhook_deliveries p where p.endpoint_id = m.endpoint_id ' +
            'and p.delivered_at is null and p.failed_at is null and p.id < m.id)',
          params: [true],
        },
        batch: BATCH,
        parallel: true,
        deliver: (delivery, attempt) => this.send(delivery, attempt),
        observe: (outcome) => this.metrics.webhookDeliveries.inc({ outcome }),
      },
      clock,
      logger,
      { maxAttempts: options.maxAttempts, retrySeconds: options.retrySeconds, maxRetrySeconds: options.maxRetrySeconds, claimSeconds: CLAIM_SECONDS },
    );
  }

  /**
   * Kicks a run shortly after every commit that wrote a delivery: KICK_DELAY_MS later, so that the request that
   * committed has answered first (SQLite runs its statements on the event loop) and a burst of commits makes one run.
   */
  subscriber(): EventSubscriber {
    const marked = this.marked;
    const kick = () => {
      if (this.soon) return;
      this.soon = setTimeout(() => {
        this.soon = undefined;
        this.kick();
      }, KICK_DELAY_MS);
      this.soon.unref();
    };
    return {
      onFlush(args: FlushEventArgs) {
        for (const changeSet of args.uow.getChangeSets()) {
          if (changeSet.name === 'WebhookDelivery') {
            marked.add(args.em);
            return;
          }
        }
      },
      afterTransactionCommit(args: TransactionEventArgs) {
        if (marked.has(args.em)) {
          marked.delete(args.em);
          kick();
        }
      },
      afterTransactionRollback(args: TransactionEventArgs) {
        marked.delete(args.em);
      },
      afterFlush(args: FlushEventArgs) {
        // A flush outside any transaction of ours commits by itself (SQLite without implicit transactions too).
        if (marked.has(args.em) && !args.em.isInTransaction()) {
          marked.delete(args.em);
          kick();
        }
      },
    };
  }

  kick(): void {
    this.worker.kick();
  }

  start(): void {
    this.worker.poll(this.options.pollSeconds * 1000);
    this.kick();
  }

  async stop(): Promise<void> {
    clearTimeout(this.soon);
    await this.worker.stop();
    await this.agent.close().catch(() => undefined);
  }

  idle(): Promise<void> {
    return this.worker.idle();
  }

  deliverDue(): Promise<DeliveryCounts> {
    return this.worker.deliverDue();
  }

  private async send(delivery: WebhookDelivery, attempt: number): Promise<DeliveryOutcome> {
    const em = this.orm.em.fork();
    const [endpoint, event] = await Promise.all([
      em.findOne(WebhookEndpointSchema, { id: delivery.endpointId }),
      em.findOne(WebhookEventSchema, { id: delivery.eventId }),
    ]);
    if (!endpoint || !event) return { ok: false, error: 'the endpoint or the event is gone', retryable: false };
    const now = this.clock.now();
    const signature = this.endpoints
      .signingSecrets(endpoint, now)
      .map((secret) => new Webhook(secret).sign(event.id, now, event.payload))
      .join(' ');
    const started = performance.now();
    let responseStatus: number | null = null;
    let responseBody: string | null = null;
    let error: string | null = null;
    try {
      const url = new URL(endpoint.url);
      const literal = url.hostname.replace(/^\[|\]$/g, '');
      const why = isIP(literal) && !this.options.allowPrivateNetworks ? refusedAddress(literal) : null;
      if (why) throw new Error(`address refused: ${why}`);
      const response = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        dispatcher: this.agent,
        signal: AbortSignal.timeout(TIMEOUT_MS),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Pulse-Auth-Webhooks/1',
          'webhook-id': event.id,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body: event.payload,
      });
      responseStatus = response.status;
      responseBody = (await readStart(response)) || null;
      if (response.status >= 300 && response.status < 400) error = `redirect (${response.status}) not followed`;
      else if (response.status < 200 || response.status >= 300) error = `HTTP ${response.status}`;
    } catch (failure) {
      const cause = (failure as { cause?: { message?: string; code?: string } }).cause;
      const name = (failure as Error).name;
      error = name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${TIMEOUT_MS / 1000} s` : String(cause?.message ?? (failure as Error).message);
    }
    const durationMs = Math.round(performance.now() - started);
    await em.insert(WebhookAttemptSchema, {
      id: randomUUID(),
      deliveryId: delivery.id,
      at: now,
      outcome: error ? 'failure' : 'success',
      responseStatus,
      durationMs,
      responseBody,
      error: error?.slice(0, 500) ?? null,
    });
    this.logger[error ? 'warn' : 'debug']({ deliveryId: delivery.id, eventType: delivery.eventType, attempt, responseStatus, durationMs, error }, 'webhook attempt');
    const record = { lastResponseStatus: responseStatus };
    return error ? { ok: false, error, record } : { ok: true, record };
  }
}

/** The first BODY_CHARS characters of a response body; the rest is not read. */
async function readStart(response: Awaited<ReturnType<typeof fetch>>): Promise<string> {
  if (!response.body) return '';
  const decoder = new TextDecoder();
  let text = '';
  try {
    for await (const chunk of response.body) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      if (text.length >= BODY_CHARS) break;
    }
  } catch {
    // a body cut short is still what came
  }
  await response.body.cancel().catch(() => undefined);
  return text.slice(0, BODY_CHARS);
}
