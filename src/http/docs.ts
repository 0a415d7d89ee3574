import { readFile } from 'node:fs/promises';
import type { Middleware } from 'koa';
import type { AppState } from './context.js';
import { stringify } from 'yaml';
import type { LoadedSpec } from './spec.js';
import { ProblemError } from '../domain/kernel/problem.js';

export const DOCS_FILE = new URL('../../build/docs.html', import.meta.url);

/**
 * The spec as this deployment serves it: its one server is the deployment's public URL, so a client generated from
 * `/openapi.json` (or a tool pointed at it) reaches this server without a hand-set base URL. The file in the
 * repository keeps a server variable whose default is http://localhost:3000.
 */
export function servedSpec(spec: LoadedSpec, publicUrl: string): { yaml: string; json: string } {
  const document = { ...spec.document, servers: [{ url: publicUrl, description: 'This deployment' }] };
  return { yaml: stringify(document, { lineWidth: 0 }), json: JSON.stringify(document) };
}

/**
 * The Redoc page and the spec itself. These sit in front of the validator, which knows only the API's routes.
 * The page is one self-contained file (`npm run build:docs`); its CSP forbids every other host, so it neither
 * loads anything from a CDN nor sends telemetry.
 */
export function docsAndSpec(spec: LoadedSpec, publicUrl: string): Middleware<AppState> {
  const served = servedSpec(spec, publicUrl);
  let page: string | undefined;
  return async function serveDocsAndSpec(ctx, next) {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    switch (ctx.path) {
      case '/openapi.yaml':
        ctx.type = 'application/yaml';
        ctx.body = served.yaml;
        return;
      case '/openapi.json':
        ctx.type = 'application/json';
        ctx.body = served.json;
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
