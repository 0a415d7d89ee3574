import type { AppContext } from './context.js';
import { ProblemError } from '../domain/kernel/problem.js';

const originOf = (url: string): string | undefined => {
  try {
    const { origin } = new URL(url);
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
};

/**
 * A check for the operations that act on the refresh cookie: a request that says where it comes from (`Origin`, or
 * lacking it `Referer`) must come from this server, the app or a configured CORS origin. Browsers send `Origin` on
 * every cross-origin POST; requests that carry neither header (native apps, servers, curl) are not a browser's
 * and pass. SameSite=Strict already keeps the cookie off cross-site requests: this also covers same-site
 * neighbours (another subdomain) and old browsers.
 */
export function originGuard(config: { PUBLIC_URL: string; APP_URL: string; corsOrigins: readonly string[] }) {
  const allowed = new Set(
    [config.PUBLIC_URL, config.APP_URL, ...config.corsOrigins].map((url) => originOf(url)).filter((origin) => origin !== undefined),
  );
  return function assertAllowedOrigin(ctx: AppContext): void {
    const header = ctx.get('origin') ? 'Origin' : ctx.get('referer') ? 'Referer' : undefined;
    if (!header) return;
    const claimed = ctx.get(header);
    const origin = originOf(claimed);
    if (origin && allowed.has(origin)) return;
    throw new ProblemError('origin-not-allowed', {
      detail: `Requests from ${origin ?? 'this page'} are not accepted here.`,
    });
  };
}
