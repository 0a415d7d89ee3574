import type { WebhookEndpoints } from '../domain/webhooks/endpoints.js';
import type { OperationGroup, OperationPolicies } from './group.js';

/**
 * The webhook operations of §5.3. They carry the Administration tag (so the admin-only rule that comes from the tag
 * covers them) but live in their own module: admin.ts is the users' administration, and the event machinery is an
 * area of its own (domain/webhooks, infra/webhook-deliverer.ts).
 */
export interface WebhookDeps {
  webhookEndpoints: WebhookEndpoints;
  webhooks: { kick(): void };
}

export const webhookPolicies: OperationPolicies = {
  adminCreateWebhook: { audit: 'admin.webhook-created' },
  adminUpdateWebhook: { audit: 'admin.webhook-updated' },
  adminDeleteWebhook: { audit: 'admin.webhook-deleted' },
  adminRotateWebhookSecret: { audit: 'admin.webhook-secret-rotated' },
  adminRedeliverWebhook: { audit: 'admin.webhook-redelivered' },
};

export const webhookOperations: OperationGroup<
  | 'adminListWebhooks'
  | 'adminCreateWebhook'
  | 'adminGetWebhook'
  | 'adminUpdateWebhook'
  | 'adminDeleteWebhook'
  | 'adminRotateWebhookSecret'
  | 'adminListWebhookDeliveries'
  | 'adminRedeliverWebhook'
  | 'adminPingWebhook',
  WebhookDeps
> = ({ webhookEndpoints, webhooks }) => ({
  async adminListWebhooks({ ctx }) {
    return { status: 200, body: { items: await webhookEndpoints.list(ctx.state.em) } };
  },

  async adminCreateWebhook({ body, ctx }) {
    const created = await webhookEndpoints.create(ctx.state.em, body);
    ctx.state.audit = { targetUserId: null, details: { webhookId: created.id, url: created.url, events: created.events } };
    return { status: 201, body: created };
  },

  async adminGetWebhook({ path, ctx }) {
    return { status: 200, body: await webhookEndpoints.get(ctx.state.em, path.webhookId) };
  },

  async adminUpdateWebhook({ path, body, ctx }) {
    const updated = await webhookEndpoints.update(ctx.state.em, path.webhookId, body);
    ctx.state.audit = { targetUserId: null, details: { webhookId: updated.id, changes: body } };
    if (body.enabled) webhooks.kick();
    return { status: 200, body: updated };
  },

  async adminDeleteWebhook({ path, ctx }) {
    await webhookEndpoints.delete(ctx.state.em, path.webhookId);
    ctx.state.audit = { targetUserId: null, details: { webhookId: path.webhookId } };
    return { status: 204 };
  },

  async adminRotateWebhookSecret({ path, ctx }) {
    const rotated = await webhookEndpoints.rotateSecret(ctx.state.em, path.webhookId);
    ctx.state.audit = { targetUserId: null, details: { webhookId: rotated.id } };
    return { status: 200, body: rotated };
  },

  async adminListWebhookDeliveries({ path, query, ctx }) {
    const page = await webhookEndpoints.deliveries(ctx.state.em, path.webhookId, { status: query.status, limit: query.limit ?? 20, cursor: query.cursor });
    return { status: 200, body: page };
  },

  async adminRedeliverWebhook({ path, ctx }) {
    const delivery = await webhookEndpoints.redeliver(ctx.state.em, path.webhookId, path.deliveryId);
    ctx.state.audit = { targetUserId: null, details: { webhookId: path.webhookId, deliveryId: path.deliveryId } };
    webhooks.kick();
    return { status: 202, body: delivery };
  },

  async adminPingWebhook({ path, ctx }) {
    return { status: 202, body: await webhookEndpoints.ping(ctx.state.em, path.webhookId) };
  },
});
