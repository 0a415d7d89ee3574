import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Middleware } from 'koa';
import type { AppState } from './context.js';
import { ProblemError } from './problem.js';
import type { OperationId } from './operation.js';

/** Operations that guess at or mail to accounts, limited per client IP. */
const LIMITED: ReadonlySet<OperationId> = new Set([
  'register',
  'verifyEmail',
  'resendVerification',
  'login',
  'forgotPassword',
  'resetPassword',
]);

/**
 * Per-IP request limits on the operations that an attacker would hammer. One counter per operation and IP, in
 * memory (shared stores for several instances come with the brute-force protection work).
 */
export function rateLimits(options: { perMinute: number }): Middleware<AppState> {
  const limiter = new RateLimiterMemory({ points: options.perMinute, duration: 60 });
  return async function limitRequestRate(ctx, next) {
    const operationId = ctx.state.operation?.operationId as OperationId | undefined;
    if (operationId && LIMITED.has(operationId)) {
      try {
        await limiter.consume(`${operationId}:${ctx.ip}`);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const seconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        throw new ProblemError('rate-limited', { detail: `Try again in ${seconds} seconds.`, headers: { 'Retry-After': String(seconds) } });
      }
    }
    await next();
  };
}
