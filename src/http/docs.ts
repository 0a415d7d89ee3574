import { readFile } from 'node:fs/promises';
import type { Middleware } from 'koa';
import type { AppState } from './context.js';
import type { LoadedSpec } from './spec.js';
import { ProblemError } from '../domain/kernel/problem.js';

export const DOCS_FILE = new URL('../../build/docs.html', import.meta.url);

/**
 * The Redoc page and the spec itself. These sit in front of the validator, which knows only the API's routes.
 * The page is one self-contained file (`npm run build:docs`); its CSP forbids every other host, so it neither
 * loads anything from a CDN nor sends telemetry.
 */
export function docsAndSpec(spec: LoadedSpec): Middleware<AppState> {
  let page: string | undefined;
  return async function serveDocsAndSpec(ctx, next) {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    switch (ctx.path) {
      case '/openapi.yaml':
        ctx.type = 'application/yaml';
        ctx.body = spec.yaml;
        return;
      case '/openapi.json':
        ctx.type = 'application/json';
        ctx.body = spec.json;
        return;
      case '/docs':
      case '/docs/': {
        page ??= await readFile(DOCS_FILE, 'utf8').catch(() => undefined);
        if (!page) {
          throw new ProblemError('not-found', { detail: 'The documentation page has not been built: run `npm run build:docs`.' });
        }
        ctx.set(
          'Content-Security-Policy',
          "default-src 'none'; script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'",
        );
        ctx.type = 'text/html';
        ctx.body = page;
        return;
      }
      default:
        return next();
    }
  };
}
