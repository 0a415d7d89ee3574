import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import express from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import type { AppContext } from '../context.js';
import type { SpecDocument } from './validator-spec.js';

/** What the validator learnt about the request: its coerced parameters (and, with a body, the coerced body). */
export interface ValidatedRequest extends IncomingMessage {
  cookies?: Record<string, string>;
  query: Record<string, unknown>;
  openapi?: { pathParams: Record<string, string> };
}

export type Outcome = { ok: true; req: ValidatedRequest; res: ServerResponse } | { ok: false; error: unknown };

export interface ExpressReplay {
  /** Replays the request through the validator: what it learnt, or the error it raised. */
  request(ctx: AppContext): Promise<Outcome>;
  /** With response validation on: what is wrong with the response about to be sent, if anything. */
  response(res: ServerResponse, ctx: AppContext): unknown;
}

/**
 * express-openapi-validator inside Koa. The validator needs Express's request and response objects, so each
 * request is replayed on a detached copy (method, URL, headers, the parsed body and cookies) through a private
 * Express app that never listens. The copy's `res.json` is kept for the response check, which the validator's
 * response middleware wraps.
 */
export function expressReplay(spec: SpecDocument, options: { validateResponses: boolean }): ExpressReplay {
  let responseError: unknown;
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
      // allErrors: clients get every problem at once. Safe here: bodies are capped (64 kB; 1 MiB for adminImportUsers),
      // every string has a maxLength and every array a maxItems, and a problem lists at most 100 (validator-errors.ts).
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
  app.use((request: ValidatedRequest, response: ServerResponse) => resolvers.get(request)?.({ ok: true, req: request, res: response }));

  return {
    request: (ctx) =>
      new Promise<Outcome>((resolvePromise) => {
        const req = new IncomingMessage(new Socket()) as ValidatedRequest;
        req.method = ctx.method;
        req.url = ctx.url;
        req.headers = { ...ctx.headers };
        req.body = ctx.request.body as IncomingMessage['body'];
        req.cookies = ctx.state.cookies;
        const res = new ServerResponse(req);
        resolvers.set(req, resolvePromise);
        (app as unknown as { handle: (...args: unknown[]) => void }).handle(req, res, (error: unknown) =>
          resolvePromise({ ok: false, error: error ?? new Error('openapi validator ended without a result') }),
        );
      }),
    response(res, ctx) {
      responseError = undefined;
      res.statusCode = ctx.status;
      if (ctx.type) res.setHeader('content-type', ctx.type);
      (res as unknown as { json: (body: unknown) => void }).json(ctx.body === '' || ctx.body === null ? undefined : ctx.body);
      return responseError;
    },
  };
}
