import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import express from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import type { Middleware } from 'koa';
import { ProblemError, type FieldError } from '../domain/kernel/problem.js';
import type { AppState, ValidatedInput } from './context.js';

/** What the validator learnt about the request: the operation and its coerced parameters. */
interface ExpressRequestWithOpenApi extends IncomingMessage {
  cookies?: Record<string, string>;
  query: Record<string, unknown>;
  openapi?: { pathParams: Record<string, string> };
}

type Outcome = { req: ExpressRequestWithOpenApi; res: ServerResponse; error?: undefined } | { error: unknown };

/**
 * Runs express-openapi-validator inside Koa. The validator needs Express's request and response objects, so each
 * request is replayed on a detached copy (method, URL, headers, the parsed body and cookies) through a private
 * Express app that never listens. The copy's `res.json` is kept for the response check, which the validator's
 * response middleware wraps.
 *
 * It reads the request's operation from `ctx.state.operation` (resolved by the router) and leaves the checked
 * parameters in `ctx.state.input`. A request without an operation still goes through the validator, which answers
 * it with the spec's 404 or 405 problem.
 *
 * The operations that take no input at all (no parameters, no body: getMe, getHealth, getJwks…) have nothing to
 * check, yet replaying a request through express-openapi-validator costs more than the whole of getMe. A request
 * that names one of them exactly (method and path as written in the spec, no body) skips the replay. Anything else
 * (another spelling of the path, a body) still goes through the validator; so does everything while responses are
 * validated (tests, development), since the response check needs the validator's own objects.
 */
export function openApiValidator(options: { spec: object; validateResponses: boolean }): Middleware<AppState> {
  let responseError: unknown;
  const spec = withQueryLeniency(structuredClone(options.spec) as SpecDocument);
  const keepsNul = passwordFields(spec);
  const app = express();
  // Nothing is ever sent on the detached response; `res.json` is only the hook the response validator wraps.
  app.use((_req, res, next) => {
    res.json = function noSend() {
      return this;
    };
    next();
  });
  app.use(
    OpenApiValidator.middleware({
      apiSpec: spec as never,
      // allErrors: clients get every problem at once. Safe here: bodies are capped at 64 kB and every string has a maxLength.
      validateRequests: { allErrors: true, allowUnknownQueryParameters: false, coerceTypes: true, removeAdditional: false },
      validateResponses: options.validateResponses
        ? {
            removeAdditional: false,
            onError: (error) => {
              responseError = error;
            },
          }
        : false,
      validateSecurity: false,
      validateFormats: true,
      validateApiSpec: true,
      $refParser: { mode: 'bundle' },
    }),
  );

  // The end of the Express chain hands the validated request back to the Koa middleware that sent it.
  const resolvers = new WeakMap<IncomingMessage, (outcome: Outcome) => void>();
  app.use((request: ExpressRequestWithOpenApi, response: ServerResponse) =>
    resolvers.get(request)?.({ req: request, res: response }),
  );

  const run = (ctx: Parameters<Middleware<AppState>>[0]) =>
    new Promise<Outcome>((resolvePromise) => {
      const req = new IncomingMessage(new Socket()) as ExpressRequestWithOpenApi;
      req.method = ctx.method;
      req.url = ctx.url;
      req.headers = { ...ctx.headers };
      req.body = ctx.request.body as IncomingMessage['body'];
      req.cookies = ctx.state.cookies;
      const res = new ServerResponse(req);
      resolvers.set(req, resolvePromise);
      (app as unknown as { handle: (...args: unknown[]) => void }).handle(req, res, (error: unknown) =>
        resolvePromise({ error: error ?? new Error('openapi validator ended without a result') }),
      );
    });

  return async function validateAgainstSpec(ctx, next) {
    const operation = ctx.state.operation;
    if (
      operation &&
      !options.validateResponses &&
      !operation.takesInput &&
      ctx.method === operation.method.toUpperCase() &&
      ctx.path === operation.path &&
      ctx.request.body === undefined &&
      !ctx.get('content-type')
    ) {
      ctx.state.input = { path: {}, query: {} };
      return next();
    }
    const outcome = await run(ctx);
    if (outcome.error !== undefined) throw toProblem(outcome.error);
    const { req, res } = outcome as { req: ExpressRequestWithOpenApi; res: ServerResponse };
    // A request target the validator matched to no path at all (`GET *`), or that no operation's route takes:
    // nothing here answers it.
    if (!req.openapi || !operation) throw new ProblemError('not-found', { detail: 'There is no such route.' });
    const input: ValidatedInput = { path: req.openapi.pathParams ?? {}, query: req.query ?? {} };
    if (ctx.is('json') && req.body !== undefined) ctx.request.body = req.body as typeof ctx.request.body;
    // The validator lets an empty DELETE body through even where the body is required; the handler would read undefined.
    if (operation.requiresBody && (ctx.request.body === undefined || ctx.request.body === null)) {
      throw new ProblemError('validation-failed', { detail: '1 problem(s) in the request', errors: [{ pointer: '/body', detail: 'is required' }] });
    }
    const nul = [
      ...nulPointers(input.path, '/path', keepsNul),
      ...nulPointers(input.query, '/query', keepsNul),
      ...nulPointers(ctx.request.body, '/body', keepsNul),
    ];
    if (nul.length) {
      throw new ProblemError('validation-failed', {
        detail: `${nul.length} problem(s) in the request`,
        errors: nul.map((pointer) => ({ pointer, detail: 'must not contain the character U+0000' })),
      });
    }
    ctx.state.input = input;

    await next();

    if (options.validateResponses) {
      responseError = undefined;
      res.statusCode = ctx.status;
      if (ctx.type) res.setHeader('content-type', ctx.type);
      (res as unknown as { json: (body: unknown) => void }).json(ctx.body === '' || ctx.body === null ? undefined : ctx.body);
      if (responseError) {
        const error = new Error(
          `response of ${operation.operationId} (${ctx.status}) does not match the spec: ${(responseError as Error).message}`,
        );
        throw Object.assign(error, { responseBody: ctx.body });
      }
    }
  };
}

type Parameter = { in?: string; $ref?: string };
type SpecDocument = {
  paths: Record<string, Record<string, unknown> & { parameters?: Parameter[] }>;
  components?: { parameters?: Record<string, Parameter>; schemas?: Record<string, { properties?: Record<string, { format?: string }> }> };
};

/**
 * An operation that takes no query parameters ignores the query string (a cache-buster on /health or the JWKS is
 * not an error); one that takes some still refuses the ones it does not know.
 */
function withQueryLeniency(spec: SpecDocument): SpecDocument {
  const where = (parameter: Parameter) =>
    parameter.$ref ? spec.components?.parameters?.[parameter.$ref.split('/').pop()!]?.in : parameter.in;
  for (const item of Object.values(spec.paths)) {
    for (const operation of Object.values(item) as Array<{ operationId?: string; parameters?: Parameter[] } & Record<string, unknown>>) {
      if (!operation?.operationId) continue;
      const parameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])];
      if (!parameters.some((parameter) => where(parameter) === 'query')) operation['x-eov-allow-unknown-query-parameters'] = true;
    }
  }
  return spec;
}

/** Names of body fields in `format: password`: they are only hashed or compared, so any character is fine there. */
function passwordFields(spec: SpecDocument): Set<string> {
  const names = new Set<string>();
  for (const schema of Object.values(spec.components?.schemas ?? {})) {
    for (const [name, property] of Object.entries(schema.properties ?? {})) if (property.format === 'password') names.add(name);
  }
  return names;
}

/**
 * Where the request carries U+0000 outside a password. PostgreSQL refuses it in text and SQLite cuts the statement
 * at it: without this check it becomes a 500 on whatever write or lookup it reaches.
 */
function nulPointers(value: unknown, pointer: string, keepsNul: Set<string>): string[] {
  if (typeof value === 'string') return value.includes('\u0000') ? [pointer] : [];
  if (Array.isArray(value)) return value.flatMap((item, index) => nulPointers(item, `${pointer}/${index}`, keepsNul));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) =>
      key.includes('\u0000')
        ? [`${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`]
        : keepsNul.has(key) && pointer === '/body'
          ? []
          : nulPointers(item, `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, keepsNul),
    );
  }
  return [];
}

interface ValidatorHttpError {
  status: number;
  message: string;
  errors?: Array<{ path: string; message: string }>;
  headers?: Record<string, string>;
}

function toProblem(error: unknown): unknown {
  const e = error as ValidatorHttpError;
  if (typeof e?.status !== 'number') return error;
  switch (e.status) {
    case 400:
      return new ProblemError('validation-failed', {
        detail: `${e.errors?.length ?? 1} problem(s) in the request`,
        errors: (e.errors ?? []).map(toFieldError),
      });
    case 404:
      return new ProblemError('not-found', { detail: 'There is no such route.' });
    case 405:
      return new ProblemError('method-not-allowed', {
        detail: 'The route exists, but not with this method.',
        headers: e.headers?.Allow ? { Allow: e.headers.Allow } : {},
      });
    case 413:
      return new ProblemError('payload-too-large');
    case 415:
      return new ProblemError('unsupported-media-type', { detail: 'Send the body as application/json.' });
    default:
      return error;
  }
}

/**
 * The validator's paths are `/body/email`, `/query/limit`, `/params/id`, `.body.email` or `body/email`; make them
 * JSON pointers that start with the part of the request the spec documents (`/body`, `/query`, `/path`, `/headers`).
 */
function toFieldError(item: { path: string; message: string }): FieldError {
  const pointer = ('/' + item.path.replace(/^[./]+/, '').replace(/\./g, '/')).replace(/^\/params\//, '/path/');
  return { pointer, detail: item.message };
}
