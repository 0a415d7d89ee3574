import type { Middleware } from 'koa';
import { acceptedOperationId, type AppState } from './context.js';
import type { Metrics } from '../observability/metrics.js';
import { constantTimeEqual } from '../domain/tokens/secrets.js';
import { ProblemError } from '../domain/kernel/problem.js';

/**
 * Counts every request by operationId (or `unmatched`, see acceptedOperationId) and status, and its latency; the
 * outcomes of the operations whose policy says `signIn` too.
 */
export function measureRequests(metrics: Metrics): Middleware<AppState> {
  return async function countRequest(ctx, next) {
    const stop = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const accepted = acceptedOperationId(ctx);
      const operation = accepted ?? 'unmatched';
      const status = String(ctx.status);
      metrics.requests.inc({ operation, status });
      metrics.latency.observe({ operation, status }, Number(process.hrtime.bigint() - stop) / 1e9);
      if (accepted && ctx.state.operation?.policy.signIn) metrics.signIns.inc({ outcome: signInOutcome(ctx.status, ctx.body) });
    }
  };
}

function signInOutcome(status: number, body: unknown): string {
  const problem = body as { code?: string; mfaRequired?: boolean } | undefined;
  if (status === 200) return problem?.mfaRequired ? 'mfa-required' : 'success';
  if (problem?.code === 'too-many-failed-attempts') return 'locked';
  if (problem?.code === 'account-disabled') return 'disabled';
  return 'failure';
}

/** `GET /metrics` in Prometheus format; with METRICS_TOKEN set, only for `Authorization: Bearer <token>`. */
export function metricsEndpoint(metrics: Metrics, token: string | undefined): Middleware<AppState> {
  return async function serveMetrics(ctx, next) {
    if (ctx.path !== '/metrics' || ctx.method !== 'GET') return next();
    if (token && !constantTimeEqual(ctx.get('authorization'), `Bearer ${token}`)) {
      throw new ProblemError('authentication-required', {
        detail: 'Send the metrics token as a bearer token.',
        headers: { 'WWW-Authenticate': 'Bearer realm="pulse-auth-metrics"' },
      });
    }
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  };
}
