import type { ParameterizedContext } from 'koa';
import type { Logger } from 'pino';
import type { EntityManager } from '@mikro-orm/core';
import type { ClientInfo, Principal } from '../domain/kernel/actor.js';
import type { ResolvedOperation } from './spec-operations.js';

/** A request's path and query parameters, as the spec validator checked and coerced them. */
export interface ValidatedInput {
  path: Record<string, string>;
  query: Record<string, unknown>;
}

export interface AppState {
  requestId: string;
  /** performance.now() when the request came in: what a cache answering for it must have heard of (domain/cache). */
  receivedAt: number;
  log: Logger;
  cookies: Record<string, string>;
  /** The request's operation (spec facts and policy), resolved once from method and path (http/router.ts). */
  operation?: ResolvedOperation;
  /** Set by the spec validator once the request is valid for its operation. */
  input?: ValidatedInput;
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

/**
 * The operation a request was accepted for: resolved, and its input passed the spec validator. The metrics and the
 * request's log line name it; a request the validator refused (bad JSON, a bad parameter) counts as `unmatched`.
 */
export const acceptedOperationId = (ctx: AppContext): string | undefined =>
  ctx.state.input ? ctx.state.operation?.operationId : undefined;
