import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import { OutboxMailSchema } from '../db/entities.js';
import type { MailContent } from './templates.js';

/**
 * Queues a mail in the caller's unit of work: it is committed with the change that causes it, or not at all.
 * The deliverer sends it after the commit.
 */
export function enqueueMail(em: EntityManager, now: Date, recipient: string, content: MailContent): void {
  em.create(OutboxMailSchema, {
    id: randomUUID(),
    recipient,
    subject: content.subject,
    textBody: content.text,
    htmlBody: content.html,
    createdAt: now,
    attempts: 0,
    nextAttemptAt: now,
    lockedUntil: null,
    sentAt: null,
    failedAt: null,
    lastError: null,
  });
}
