import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Principal } from '../domain/kernel/actor.js';
import type { AppState, AppContext } from './context.js';
import type { Handlers, OperationId } from './operation.js';

const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'] as const;

export interface SpecOperation {
  operationId: OperationId;
  tags: string[];
  method: (typeof METHODS)[number];
  path: string;
  security: Array<Record<string, string[]>>;
  /** The spec gives it a request body (`requiresBody`: a required one). */
  takesBody: boolean;
  requiresBody: boolean;
  /** It takes parameters (path, query, header or cookie) or a body. */
  takesInput: boolean;
}

interface SpecOperationObject {
  operationId?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: unknown[];
  requestBody?: { required?: boolean };
}

interface Spec {
  security?: Array<Record<string, string[]>>;
  paths: Record<string, Partial<Record<string, SpecOperationObject>> & { parameters?: unknown[] }>;
}

/** Every operation of the spec, with what the HTTP layer needs to know of it. The one walk over `paths`. */
export function operationsOf(spec: Spec): SpecOperation[] {
  const found: SpecOperation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      if (!operation.operationId) throw new Error(`${method.toUpperCase()} ${path} has no operationId`);
      const takesBody = operation.requestBody !== undefined;
      found.push({
        operationId: operation.operationId as OperationId,
        tags: operation.tags ?? [],
        method,
        path,
        security: operation.security ?? spec.security ?? [],
        takesBody,
        requiresBody: operation.requestBody?.required === true,
        takesInput: takesBody || (item.parameters?.length ?? 0) > 0 || (operation.parameters?.length ?? 0) > 0,
      });
    }
  }
  return found;
}

/**
 * Builds the router from the spec: one route per operation, dispatched to the handler of its operationId. Refuses
 * to build when an operation has no handler or a handler has no operation.
 */
export function buildRouter(
  spec: Spec,
  handlers: Handlers,
  authenticate: (ctx: AppContext) => Promise<Principal>,
  authorizeAdmin: (ctx: AppContext) => Promise<void> = async () => {},
): Router<AppState> {
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

  const router = new Router<AppState>();
  for (const operation of operations) {
    const koaPath = operation.path.replace(/\{([^}]+)\}/g, ':$1');
    router[operation.method](operation.operationId, koaPath, authentication(operation, authenticate, authorizeAdmin), dispatch(operation, handlers));
  }
  return router;
}

/**
 * Applies the operation's security requirement: bearer required, optional, or none; and for the operations tagged
 * Administration, the admin role.
 */
function authentication(
  operation: SpecOperation,
  authenticate: (ctx: AppContext) => Promise<Principal>,
  authorizeAdmin: (ctx: AppContext) => Promise<void>,
): Middleware<AppState> {
  const acceptsBearer = operation.security.some((requirement) => 'bearerAuth' in requirement);
  const requiresBearer = acceptsBearer && operation.security.every((requirement) => 'bearerAuth' in requirement);
  const adminOnly = operation.tags.includes(ADMIN_TAG);
  return async function checkBearerToken(ctx, next) {
    if (requiresBearer || (acceptsBearer && ctx.get('authorization'))) {
      ctx.state.principal = await authenticate(ctx);
    }
    if (adminOnly) await authorizeAdmin(ctx);
    await next();
  };
}

/** The spec's tag of the operations that need the admin role. */
export const ADMIN_TAG = 'Administration';

function dispatch(operation: SpecOperation, handlers: Handlers): Middleware<AppState> {
  const handler = handlers[operation.operationId] as (input: unknown) => Promise<{ status: number; body?: unknown }>;
  const run: Middleware<AppState> = async (ctx) => {
    const validated = ctx.state.operation;
    const result = await handler({
      body: ctx.request.body,
      path: validated?.pathParams ?? {},
      query: validated?.query ?? {},
      ctx,
    });
    ctx.status = result.status;
    if (result.body !== undefined) ctx.body = result.body;
    // Koa would fill a bodiless redirect with its status text ("Found"); a redirect here has no body.
    else if (result.status >= 300 && result.status < 400) ctx.body = '';
  };
  Object.defineProperty(run, 'name', { value: operation.operationId });
  return run;
}

/**
 * Runs the body parser only for the operations whose spec has a request body: any other route (an operation without
 * one, an unknown path, a wrong method) ignores what was sent instead of failing on JSON it never needed.
 */
export function bodyOnlyWhereTaken(router: Router<AppState>, spec: Spec, parse: Middleware<AppState>): Middleware<AppState> {
  const takesBody = new Set<string>(operationsOf(spec).filter((operation) => operation.takesBody).map((operation) => operation.operationId));
  return async function parseBodyWhereTaken(ctx, next) {
    const operationId = router.match(ctx.path, ctx.method).pathAndMethod.at(-1)?.name;
    if (operationId && takesBody.has(operationId)) return parse(ctx, next);
    // Read and drop it: a body left unread when the connection closes makes the kernel reset it, and the client can
    // lose the answer.
    ctx.req.resume();
    return next();
  };
}
