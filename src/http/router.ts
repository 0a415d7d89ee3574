import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AppState } from './context.js';
import type { Handlers, OperationPolicies } from './operation.js';
import { operationsOf, type ResolvedOperation, type Spec } from './spec-operations.js';

export interface OperationRouter {
  /**
   * Finds the request's operation from its method and path, once, early in the chain, and puts it in
   * `ctx.state.operation` (its spec facts and its policy). A request that matches none has no operation: the spec
   * validator then answers it with its 404 or 405 problem.
   */
  resolve: Middleware<AppState>;
  /** The end of the chain: runs the resolved operation's handler with the input the spec validator checked. */
  dispatch: Middleware<AppState>;
}

/**
 * Builds the router from the spec: one route per operation, for the handler of its operationId and the policy its
 * module declares. Refuses to build when an operation has no handler or a handler has no operation. The security
 * check (http/auth.ts) runs between the two, in the app's chain.
 */
export function buildRouter(spec: Spec, handlers: Handlers, policies: OperationPolicies = {}): OperationRouter {
  const operations = operationsOf(spec);
  const specIds = new Set<string>(operations.map((op) => op.operationId));
  const handlerIds = new Set(Object.keys(handlers));
  const missing = [...specIds].filter((id) => !handlerIds.has(id));
  const extra = [...handlerIds].filter((id) => !specIds.has(id));
  if (missing.length || extra.length) {
    throw new Error(
      [
        missing.length ? `operations without a handler: ${missing.join(', ')}` : '',
        extra.length ? `handlers without an operation: ${extra.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; '),
    );
  }

  return {
    resolve: operationResolver(spec, policies),
    dispatch: async function dispatchOperation(ctx, next) {
      const operation = ctx.state.operation;
      if (!operation) return next();
      const handler = handlers[operation.operationId] as (input: unknown) => Promise<{ status: number; body?: unknown }>;
      const result = await handler({
        body: ctx.request.body,
        path: ctx.state.input?.path ?? {},
        query: ctx.state.input?.query ?? {},
        ctx,
      });
      ctx.status = result.status;
      if (result.body !== undefined) ctx.body = result.body;
      // Koa would fill a bodiless redirect with its status text ("Found"); a redirect here has no body.
      else if (result.status >= 300 && result.status < 400) ctx.body = '';
    },
  };
}

/** See OperationRouter.resolve. */
export function operationResolver(spec: Spec, policies: OperationPolicies = {}): Middleware<AppState> {
  // @koa/router is only the path matcher here: one route per operation, named after it (a GET route matches HEAD too).
  const matcher = new Router<AppState>();
  const resolved = new Map<string, ResolvedOperation>();
  for (const operation of operationsOf(spec)) {
    const koaPath = operation.path.replace(/\{([^}]+)\}/g, ':$1');
    matcher[operation.method](operation.operationId, koaPath, async () => {});
    resolved.set(operation.operationId, Object.freeze({ ...operation, policy: policies[operation.operationId] ?? {} }));
  }
  return async function resolveOperation(ctx, next) {
    const route = matcher.match(ctx.path, ctx.method).pathAndMethod[0];
    ctx.state.operation = route?.name ? resolved.get(route.name) : undefined;
    await next();
  };
}

/**
 * Runs the body parser only for the operations whose spec has a request body: any other route (an operation without
 * one, an unknown path, a wrong method) ignores what was sent instead of failing on JSON it never needed.
 */
export function bodyOnlyWhereTaken(parse: Middleware<AppState>): Middleware<AppState> {
  return async function parseBodyWhereTaken(ctx, next) {
    if (ctx.state.operation?.takesBody) return parse(ctx, next);
    // Read and drop it: a body left unread when the connection closes makes the kernel reset it, and the client can
    // lose the answer.
    ctx.req.resume();
    return next();
  };
}
