import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { AuditEventSchema, type AuditEvent } from '../../db/entities.js';
import type { Clock } from '../kernel/clock.js';

export type AuditInput = Omit<AuditEvent, 'id' | 'createdAt' | 'outcome' | 'userAgent' | 'details' | 'ip' | 'actorUserId' | 'targetUserId'> &
  Partial<Pick<AuditEvent, 'outcome' | 'userAgent' | 'details' | 'ip' | 'actorUserId' | 'targetUserId'>>;

/**
 * The audit trail. Events are written in their own unit of work, so that an event about a failure survives the
 * failed request; a write that fails is logged and never fails the request it describes.
 */
export class AuditLog {
  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async record(event: AuditInput, em: EntityManager = this.orm.em.fork()): Promise<void> {
    try {
      em.create(AuditEventSchema, {
        id: randomUUID(),
        createdAt: this.clock.now(),
        outcome: 'success',
        actorUserId: null,
        targetUserId: null,
        ip: null,
        details: null,
        ...event,
        userAgent: event.userAgent?.slice(0, 512) ?? null,
      });
      await em.flush();
    } catch (error) {
      this.logger.error({ err: error, action: event.action }, 'audit: could not record an event');
    }
  }
}
