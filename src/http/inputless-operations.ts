import type { Middleware } from 'koa';
import type { AppState } from './context.js';
import { operationsOf } from './router.js';

/**
 * The operations that take no input at all (no parameters, no body: getMe, getHealth, getJwks…) have nothing for
 * the spec validator to check, yet replaying a request through express-openapi-validator costs more than the
 * whole of getMe. A request that names one of them exactly (method and path as written in the spec, no body) is
 * marked with its operation here and the validator lets it pass. Anything else (another spelling of the path, a
 * body, any other operation) still goes through the validator; so does everything while responses are validated
 * (tests, development), since the response check needs the validator's own objects.
 */
export function inputlessOperations(spec: Parameters<typeof operationsOf>[0], options: { validateResponses: boolean }): Middleware<AppState> {
  const byRoute = new Map<string, { operationId: string; security: Array<Record<string, string[]>> }>();
  for (const operation of operationsOf(spec)) {
    if (!operation.takesInput) byRoute.set(`${operation.method.toUpperCase()} ${operation.path}`, { operationId: operation.operationId, security: operation.security });
  }

  return async function markInputlessOperation(ctx, next) {
    if (!options.validateResponses && ctx.request.body === undefined && !ctx.get('content-type')) {
      const operation = byRoute.get(`${ctx.method} ${ctx.path}`);
      if (operation) ctx.state.operation = { operationId: operation.operationId, pathParams: {}, query: {}, security: operation.security };
    }
    await next();
  };
}
