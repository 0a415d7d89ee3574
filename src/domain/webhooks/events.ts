import type { EntityManager } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import { WebhookDeliverySchema, WebhookEventSchema } from '../../db/entities.js';
import type { Session, User } from '../../db/entities.js';
import { toUserView } from '../users/views.js';
import { newEventId, orderedUuid } from './ids.js';
import { subscribes, type WebhookEventData, type WebhookEventType } from './event-types.js';

/**
 * Writes an event in the caller's unit of work, with one delivery for each enabled endpoint subscribed to its type:
 * committed with the change that causes it, or not at all. The webhook deliverer sends it after the commit (it is
 * kicked by the commit itself; see infra/webhook-deliverer.ts). Call it where the change happens, with the
 * EntityManager (or transaction) that writes the change and before that is flushed:
 *
 *   await webhookEvents.emit(tx, now, 'organization.created', { organization: toWebhookOrganization(org) });
 *
 * `data` is typed from the spec's schema of that event: public shapes only, never a hash, secret or token.
 */
export async function emitWebhookEvent<T extends WebhookEventType>(
  em: EntityManager,
  now: Date,
  type: T,
  data: WebhookEventData[T],
  options: { onlyEndpoint?: string } = {},
): Promise<{ eventId: string; deliveryIds: string[] }> {
  const endpoints = await (em as SqlEntityManager).execute<{ id: string; events: string; enabled: unknown }[]>(
    options.onlyEndpoint
      ? 'select id, events, enabled from webhook_endpoints where id = ?'
      : 'select id, events, enabled from webhook_endpoints where enabled = ?',
    [options.onlyEndpoint ?? true],
    'all',
  );
  const targets = options.onlyEndpoint ? endpoints : endpoints.filter((endpoint) => subscribes(endpoint.events.split(','), type));
  if (targets.length === 0) return { eventId: '', deliveryIds: [] };
  const eventId = newEventId();
  em.create(WebhookEventSchema, {
    id: eventId,
    type,
    payload: JSON.stringify({ id: eventId, type, timestamp: now.toISOString(), data }),
    createdAt: now,
  });
  const deliveryIds: string[] = [];
  for (const endpoint of targets) {
    const id = orderedUuid();
    deliveryIds.push(id);
    em.create(WebhookDeliverySchema, {
      id,
      endpointId: endpoint.id,
      eventId,
      eventType: type,
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now,
      lockedUntil: null,
      deliveredAt: null,
      failedAt: null,
      lastResponseStatus: null,
      lastError: null,
    });
  }
  return { eventId, deliveryIds };
}

/** The port-like object the domain calls: `webhookEvents.emit(em, now, type, data)`. */
export const webhookEvents = { emit: emitWebhookEvent };

/** The public shapes that events carry. */
export const userData = (user: User) => ({ user: toUserView(user) });

export const webhookSession = (session: Session) => ({
  id: session.id,
  userId: session.userId,
  deviceType: session.deviceType,
  browser: session.browser,
  os: session.os,
  ip: session.ip,
  createdAt: session.createdAt.toISOString(),
});
