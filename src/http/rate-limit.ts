import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Middleware } from 'koa';
import type { AppState } from './context.js';
import { ProblemError } from '../domain/kernel/problem.js';
import type { CounterFactory } from '../domain/protection/counters.js';
import { normaliseEmail } from '../domain/users/views.js';
import { clientKey } from '../domain/protection/client-key.js';

/** The account a request is about: its email, or its MFA challenge. */
function accountOf(body: unknown): string | undefined {
  const fields = (body ?? {}) as { email?: unknown; challengeId?: unknown };
  if (typeof fields.email === 'string') return normaliseEmail(fields.email);
  if (typeof fields.challengeId === 'string') return fields.challengeId;
  return undefined;
}

/**
 * Request-volume limits: RATE_LIMIT_PER_MINUTE per operation and client IP (an IPv6 client by its network, see
 * clientKey), RATE_LIMIT_ACCOUNT_PER_HOUR per
 * operation and account (from any IP, so that a botnet cannot spread guesses or mail bombs over many addresses).
 * Runs after the spec validator, so the body is known to be well-formed.
 */
export function rateLimits(
  counters: CounterFactory,
  options: { perMinute: number; accountPerHour: number; ipv6Prefix: number },
): Middleware<AppState> {
  const perIp: RateLimiterAbstract = counters.create({ name: 'rate:ip', points: options.perMinute, durationSeconds: 60 });
  const perAccount: RateLimiterAbstract = counters.create({ name: 'rate:account', points: options.accountPerHour, durationSeconds: 3600 });
  return async function limitRequestRate(ctx, next) {
    const operationId = ctx.state.operation?.operationId;
    // The operations whose module marks them rateLimited (see OperationPolicy).
    if (operationId && ctx.state.operation?.policy.rateLimited) {
      try {
        await perIp.consume(`${operationId}:${clientKey(ctx.ip, options.ipv6Prefix)}`);
        const account = accountOf(ctx.request.body);
        if (account) await perAccount.consume(`${operationId}:${account}`);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const seconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        throw new ProblemError('rate-limited', { detail: `Try again in ${seconds} seconds.`, headers: { 'Retry-After': String(seconds) } });
      }
    }
    await next();
  };
}
