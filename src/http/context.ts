import type { ParameterizedContext } from 'koa';
import type { Logger } from 'pino';
import type { EntityManager } from '@mikro-orm/core';
import type { ClientInfo, Principal } from '../domain/kernel/actor.js';

/** The operation of the spec that a request matched, as the spec validator read it. */
export interface ValidatedOperation {
  operationId: string;
  pathParams: Record<string, string>;
  query: Record<string, unknown>;
  security: Array<Record<string, string[]>>;
}

export interface AppState {
  requestId: string;
  /** performance.now() when the request came in: what a cache answering for it must have heard of (domain/cache). */
  receivedAt: number;
  log: Logger;
  cookies: Record<string, string>;
  /** Set by the spec validator for every request that matches an operation. */
  operation?: ValidatedOperation;
  /** Set by the bearer-token check on operations that require it. */
  principal?: Principal;
  /** This request's own unit of work. */
  em: EntityManager;
  /** What a handler adds to the request's audit event (see http/audit.ts). */
  audit?: {
    action?: string;
    outcome?: 'success' | 'failure';
    targetUserId?: string | null;
    actorUserId?: string | null;
    details?: Record<string, unknown>;
  };
}

export type AppContext = ParameterizedContext<AppState>;

export const clientInfo = (ctx: AppContext): ClientInfo => ({
  ip: ctx.ip || null,
  userAgent: ctx.get('user-agent').slice(0, 512) || null,
});
