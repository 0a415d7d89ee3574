import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { parseCookie } from 'cookie';
import type { MikroORM } from '@mikro-orm/core';
import { loggableError } from '../observability/loggable-error.js';
import { isDatabaseUnavailable } from '../db/connection-errors.js';
import { ProblemError } from '../domain/kernel/problem.js';
import { problemBody } from './problem.js';
import { acceptedOperationId, type AppState } from './context.js';

const INCOMING_ID = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * Gives the request an id (the caller's `X-Request-Id` when it looks sane), a child logger and a log line when it
 * ends. The line carries the path without its query string: query strings can carry codes and tokens.
 */
export function requestContext(logger: Logger): Middleware<AppState> {
  return async function identifyAndLogRequest(ctx, next) {
    const incoming = ctx.get('x-request-id');
    const requestId = INCOMING_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.receivedAt = performance.now();
    // The request's child logger is made when something logs through it: most requests log only their line below.
    let child: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', { get: () => (child ??= logger.child({ requestId })), enumerable: true, configurable: true });
    ctx.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const line = {
        method: ctx.method,
        path: ctx.path,
        operationId: acceptedOperationId(ctx),
        status: ctx.status,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      };
      // A 503 is an outage or overload, logged once where it starts (readiness, the pool): its request lines are warnings.
      // Readiness probes keep their plain request line, so that a probe storm during an outage adds no warnings.
      if (ctx.status === 503) {
        if (line.operationId === 'getReadiness') logger.info({ requestId, ...line }, 'request');
        else ctx.state.log.warn(line, 'request failed');
      } else if (ctx.status >= 500) ctx.state.log.error(line, 'request failed');
      else logger.info({ requestId, ...line }, 'request');
    }
  };
}

/** Renders every error as application/problem+json; anything unexpected becomes a logged 500. */
export function problemResponses(): Middleware<AppState> {
  return async function renderProblems(ctx, next) {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new ProblemError('not-found', { detail: 'There is no such route.' });
    } catch (thrown) {
      const problem = asProblem(thrown);
      // A full hashing queue is load, not a fault: the request line (status 503) says enough, once per request.
      // A lost database is an outage, not a bug: its reason without a stack, and the request line.
      if (problem.code === 'service-unavailable') {
        if (problem.cause) ctx.state.log?.warn({ reason: databaseReason(problem.cause) }, 'the database does not answer');
      } else if (problem.status >= 500 && problem.code !== 'server-busy') ctx.state.log?.error({ err: loggableError(thrown) }, 'unhandled error');
      ctx.status = problem.status;
      for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
      // An outage is usually over within seconds (a restart, a fail-over): tell clients when to try again.
      if (problem.code === 'service-unavailable' && !('Retry-After' in problem.headers)) ctx.set('Retry-After', String(SERVICE_UNAVAILABLE_RETRY_SECONDS));
      ctx.type = 'application/problem+json';
      ctx.body = problemBody(problem, ctx.state.requestId);
    }
  };
}

function asProblem(thrown: unknown): ProblemError {
  if (thrown instanceof ProblemError) return thrown;
  const error = thrown as { status?: number; type?: string; expose?: boolean; name?: string };
  // koa-body (raw-body) errors: bad JSON, a body over the limit, an encoding we do not read.
  if (error?.type === 'entity.too.large' || error?.status === 413) return new ProblemError('payload-too-large');
  if (error?.status === 415 || error?.type === 'encoding.unsupported') return new ProblemError('unsupported-media-type');
  // A body sent with Content-Encoding gzip, deflate or br that does not decompress (zlib and brotli error codes).
  if (/^(Z_|ERR__ERROR_)/.test(String((thrown as { code?: unknown })?.code ?? ''))) {
    return new ProblemError('malformed-body', { detail: 'The body could not be decompressed.' });
  }
  if (error?.status === 400 && (error?.expose || error?.name === 'SyntaxError')) {
    return new ProblemError('malformed-body', { detail: 'The body could not be read as JSON.' });
  }
  if (isDatabaseUnavailable(thrown)) {
    return new ProblemError('service-unavailable', { detail: 'The database does not answer.', cause: thrown });
  }
  return new ProblemError('internal-error', { cause: thrown });
}

/** The Retry-After of a 503 service-unavailable that names no time of its own. */
export const SERVICE_UNAVAILABLE_RETRY_SECONDS = 5;

/** The driver's reason, without the SQL and values MikroORM puts first. */
function databaseReason(thrown: unknown): string {
  const message = (thrown as { message?: string })?.message ?? String(thrown);
  const at = message.lastIndexOf(' - ');
  return at < 0 ? message : message.slice(at + 3);
}

/** Parses the Cookie header once, for the validator and the handlers. */
export function readCookies(): Middleware<AppState> {
  return async function parseCookieHeader(ctx, next) {
    const header = ctx.get('cookie');
    ctx.state.cookies = header ? (parseCookie(header) as Record<string, string>) : {};
    await next();
  };
}

/** One unit of work per request: entities loaded by one request are never seen by another. */
export function requestEntityManager(orm: MikroORM): Middleware<AppState> {
  return async function forkEntityManager(ctx, next) {
    ctx.state.em = orm.em.fork();
    await next();
  };
}
