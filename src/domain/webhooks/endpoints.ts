import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import type { components } from '../../../generated/openapi.js';
import {
  WebhookAttemptSchema,
  WebhookDeliverySchema,
  WebhookEndpointSchema,
  WebhookEventSchema,
  type WebhookDelivery,
  type WebhookEndpoint,
} from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import { ProblemError } from '../kernel/problem.js';
import { afterCursor, encodeCursor, NEWEST_FIRST } from '../pagination.js';
import { emitWebhookEvent } from './events.js';
import { newWebhookSecret, type SecretSealer } from './secrets.js';
import { checkWebhookUrl, type UrlPolicy } from './url-guard.js';

type Schemas = components['schemas'];
export type WebhookView = Schemas['Webhook'];
export type WebhookDeliveryView = Schemas['WebhookDelivery'];

/** How long the previous secret keeps signing after a rotation. */
export const SECRET_OVERLAP_SECONDS = 24 * 3600;

const notFound = () => new ProblemError('not-found', { detail: 'There is no webhook endpoint with this id.' });

/** The §5.3 administration of webhook endpoints: subscriptions, secrets, deliveries. */
export class WebhookEndpoints {
  constructor(
    private readonly clock: Clock,
    private readonly sealer: SecretSealer,
    private readonly policy: UrlPolicy,
  ) {}

  async create(em: EntityManager, body: Schemas['CreateWebhookRequest']): Promise<Schemas['WebhookWithSecret']> {
    const url = await checkWebhookUrl(body.url, this.policy);
    const now = this.clock.now();
    const id = randomUUID();
    const secret = newWebhookSecret();
    const endpoint = em.create(WebhookEndpointSchema, {
      id,
      url,
      events: normaliseEvents(body.events),
      description: body.description ?? null,
      enabled: true,
      sealedSecret: this.sealer.seal(secret, id),
      sealedPreviousSecret: null,
      previousSecretExpiresAt: null,
      secretRotatedAt: null,
      createdAt: now,
      updatedAt: now,
    });
    await em.flush();
    return { ...toWebhookView(endpoint, now), secret };
  }

  async list(em: EntityManager): Promise<WebhookView[]> {
    const now = this.clock.now();
    const endpoints = await em.find(WebhookEndpointSchema, {}, { orderBy: { createdAt: 'asc', id: 'asc' } });
    return endpoints.map((endpoint) => toWebhookView(endpoint, now));
  }

  async get(em: EntityManager, id: string): Promise<WebhookView> {
    return toWebhookView(await this.find(em, id), this.clock.now());
  }

  async update(em: EntityManager, id: string, body: Schemas['UpdateWebhookRequest']): Promise<WebhookView> {
    const endpoint = await this.find(em, id);
    if (body.url !== undefined) endpoint.url = await checkWebhookUrl(body.url, this.policy);
    if (body.events !== undefined) endpoint.events = normaliseEvents(body.events);
    if (body.description !== undefined) endpoint.description = body.description;
    if (body.enabled !== undefined) endpoint.enabled = body.enabled;
    const now = this.clock.now();
    endpoint.updatedAt = now;
    await em.flush();
    return toWebhookView(endpoint, now);
  }

  async delete(em: EntityManager, id: string): Promise<void> {
    await em.transactional(async (tx) => {
      const endpoint = await this.find(tx, id);
      const deliveries = await tx.find(WebhookDeliverySchema, { endpointId: id }, { fields: ['id'] });
      const ids = deliveries.map((delivery) => delivery.id);
      for (let i = 0; i < ids.length; i += 500) await tx.nativeDelete(WebhookAttemptSchema, { deliveryId: { $in: ids.slice(i, i + 500) } });
      await tx.nativeDelete(WebhookDeliverySchema, { endpointId: id });
      tx.remove(endpoint);
    });
  }

  /** A new secret; the current one becomes the previous one and keeps signing for SECRET_OVERLAP_SECONDS. */
  async rotateSecret(em: EntityManager, id: string): Promise<Schemas['WebhookWithSecret']> {
    const endpoint = await this.find(em, id);
    const now = this.clock.now();
    const secret = newWebhookSecret();
    endpoint.sealedPreviousSecret = endpoint.sealedSecret;
    endpoint.previousSecretExpiresAt = addSeconds(now, SECRET_OVERLAP_SECONDS);
    endpoint.sealedSecret = this.sealer.seal(secret, id);
    endpoint.secretRotatedAt = now;
    endpoint.updatedAt = now;
    await em.flush();
    return { ...toWebhookView(endpoint, now), secret };
  }

  /** The secrets that sign a delivery now: the current one, and the previous one during the overlap. */
  signingSecrets(endpoint: WebhookEndpoint, now: Date): string[] {
    const secrets = [this.sealer.open(endpoint.sealedSecret, endpoint.id)];
    if (endpoint.sealedPreviousSecret && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > now) {
      secrets.push(this.sealer.open(endpoint.sealedPreviousSecret, endpoint.id));
    }
    return secrets;
  }

  async deliveries(
    em: EntityManager,
    id: string,
    filter: { status?: Schemas['WebhookDeliveryStatus']; limit: number; cursor?: string },
  ): Promise<Schemas['WebhookDeliveryPage']> {
    await this.find(em, id);
    const status =
      filter.status === 'delivered'
        ? { deliveredAt: { $ne: null } }
        : filter.status === 'failed'
          ? { failedAt: { $ne: null } }
          : filter.status === 'pending'
            ? { deliveredAt: null, failedAt: null }
            : {};
    const rows = await em.find(
      WebhookDeliverySchema,
      { endpointId: id, ...status, ...afterCursor(filter.cursor) } as never,
      { orderBy: NEWEST_FIRST, limit: filter.limit + 1 },
    );
    const page = rows.slice(0, filter.limit);
    return {
      items: await this.views(em, page),
      nextCursor: rows.length > filter.limit ? encodeCursor(page[page.length - 1]) : null,
    };
  }

  /** Queues the delivery again, now, with a fresh count of attempts. */
  async redeliver(em: EntityManager, id: string, deliveryId: string): Promise<WebhookDeliveryView> {
    await this.find(em, id);
    const delivery = await em.findOne(WebhookDeliverySchema, { id: deliveryId, endpointId: id });
    if (!delivery) throw new ProblemError('not-found', { detail: 'This endpoint has no delivery with this id.' });
    if (!(await em.findOne(WebhookEventSchema, { id: delivery.eventId }))) {
      throw new ProblemError('not-found', { detail: 'The event of this delivery is past its retention.' });
    }
    Object.assign(delivery, { attempts: 0, nextAttemptAt: this.clock.now(), lockedUntil: null, deliveredAt: null, failedAt: null, lastError: null });
    await em.flush();
    return (await this.views(em, [delivery]))[0];
  }

  async ping(em: EntityManager, id: string): Promise<WebhookDeliveryView> {
    await this.find(em, id);
    const { deliveryIds } = await emitWebhookEvent(em, this.clock.now(), 'webhook.ping', { webhookId: id }, { onlyEndpoint: id });
    await em.flush();
    const delivery = await em.findOneOrFail(WebhookDeliverySchema, { id: deliveryIds[0] });
    return (await this.views(em, [delivery]))[0];
  }

  private async find(em: EntityManager, id: string): Promise<WebhookEndpoint> {
    const endpoint = await em.findOne(WebhookEndpointSchema, { id });
    if (!endpoint) throw notFound();
    return endpoint;
  }

  private async views(em: EntityManager, deliveries: WebhookDelivery[]): Promise<WebhookDeliveryView[]> {
    const ids = deliveries.map((delivery) => delivery.id);
    const attempts = ids.length ? await em.find(WebhookAttemptSchema, { deliveryId: { $in: ids } }, { orderBy: { at: 'asc', id: 'asc' } }) : [];
    return deliveries.map((delivery) => ({
      id: delivery.id,
      webhookId: delivery.endpointId,
      eventId: delivery.eventId,
      eventType: delivery.eventType as WebhookDeliveryView['eventType'],
      status: delivery.deliveredAt ? 'delivered' : delivery.failedAt ? 'failed' : 'pending',
      attempts: delivery.attempts,
      lastResponseStatus: delivery.lastResponseStatus,
      nextAttemptAt: delivery.deliveredAt || delivery.failedAt ? null : delivery.nextAttemptAt.toISOString(),
      createdAt: delivery.createdAt.toISOString(),
      deliveredAt: delivery.deliveredAt?.toISOString() ?? null,
      attemptLog: attempts
        .filter((attempt) => attempt.deliveryId === delivery.id)
        .map((attempt) => ({
          at: attempt.at.toISOString(),
          outcome: attempt.outcome,
          responseStatus: attempt.responseStatus,
          durationMs: attempt.durationMs,
          responseBody: attempt.responseBody,
          error: attempt.error,
        })),
    }));
  }
}

const normaliseEvents = (events: readonly string[]) => (events.includes('*') ? '*' : [...new Set(events)].join(','));

export function toWebhookView(endpoint: WebhookEndpoint, now: Date): WebhookView {
  const overlap = endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > now ? endpoint.previousSecretExpiresAt : null;
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events.split(',') as WebhookView['events'],
    description: endpoint.description,
    enabled: endpoint.enabled,
    createdAt: endpoint.createdAt.toISOString(),
    updatedAt: endpoint.updatedAt.toISOString(),
    secretRotatedAt: endpoint.secretRotatedAt?.toISOString() ?? null,
    previousSecretExpiresAt: overlap?.toISOString() ?? null,
  };
}
