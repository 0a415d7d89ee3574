import { readFile } from 'node:fs/promises';
import type { Middleware } from 'koa';
import type { AppState } from './context.js';

export const PAGES_DIR = new URL('../pages/', import.meta.url);

/** Scripts, styles and requests from this origin only; no inline code, no framing, forms post here only. */
export const PAGES_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/**
 * Every path served, and the file behind it. Nothing else is: a request is looked up by its exact path, so no
 * path (`..`, encoded slashes, a file name of our own) can reach any other file.
 */
export const HOSTED_PAGES: Readonly<Record<string, { file: string; type: string }>> = {
  '/verify-email': { file: 'verify-email.html', type: HTML },
  '/reset-password': { file: 'reset-password.html', type: HTML },
  '/oauth/complete': { file: 'oauth-complete.html', type: HTML },
  '/sign-in': { file: 'sign-in.html', type: HTML },
  '/accept-invitation': { file: 'accept-invitation.html', type: HTML },
  '/pages/pages.css': { file: 'pages.css', type: CSS },
  '/pages/common.js': { file: 'common.js', type: JS },
  '/pages/verify-email.js': { file: 'verify-email.js', type: JS },
  '/pages/reset-password.js': { file: 'reset-password.js', type: JS },
  '/pages/oauth-complete.js': { file: 'oauth-complete.js', type: JS },
  '/pages/sign-in.js': { file: 'sign-in.js', type: JS },
  '/pages/accept-invitation.js': { file: 'accept-invitation.js', type: JS },
};

/**
 * The pages the links in mail and the social sign-in land on when APP_URL is this server (the default): confirm
 * an email address, set a new password, finish a social sign-in, sign in with a mailed link (on a button press only), accept an organization invitation (after signing in, on a button press only). Static files (`src/pages/`) that call the public
 * API like any client. They sit in front of the spec validator, which knows only the API's routes.
 *
 * The URL carries a single-use token, so: no caching, no referrer, and a CSP that lets nothing run or load from
 * anywhere but this origin.
 */
export function hostedPages(): Middleware<AppState> {
  const files = new Map<string, Promise<Buffer>>();
  const load = (file: string) => {
    let content = files.get(file);
    if (!content) {
      content = readFile(new URL(file, PAGES_DIR));
      // A failed read is not remembered: the next request tries again.
      content.catch(() => files.delete(file));
      files.set(file, content);
    }
    return content;
  };
  return async function serveHostedPages(ctx, next) {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    const entry = Object.hasOwn(HOSTED_PAGES, ctx.path) ? HOSTED_PAGES[ctx.path] : undefined;
    if (!entry) return next();
    const body = await load(entry.file);
    ctx.set('Content-Security-Policy', PAGES_CSP);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.type = entry.type;
    ctx.body = body;
  };
}
