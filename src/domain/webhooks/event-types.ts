import type { components } from '../../../generated/openapi.js';

type Schemas = components['schemas'];
export type WebhookEventType = Schemas['WebhookEventType'];
export type WebhookEventPayload = Schemas['WebhookEvent'];

/** The `data` of each event type, as the spec documents it. */
export type WebhookEventData = {
  [T in WebhookEventType]: Extract<WebhookEventPayload, { type: T }>['data'];
};

/** Every type (the spec's WebhookEventType enum); `*` subscribes to all of them, also those added later. */
export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = [
  'user.created',
  'user.updated',
  'user.deleted',
  'user.restored',
  'user.locked',
  'session.created',
  'session.revoked',
  'password.changed',
  'password.reset',
  'mfa.enabled',
  'mfa.disabled',
  'passkey.added',
  'passkey.removed',
  'identity.linked',
  'identity.unlinked',
  'organization.created',
  'organization.updated',
  'organization.deleted',
  'organization.member.added',
  'organization.member.updated',
  'organization.member.removed',
  'invitation.created',
  'invitation.accepted',
  'invitation.revoked',
  'webhook.ping',
];

export const subscribes = (events: readonly string[], type: string) => events.includes('*') || events.includes(type);
