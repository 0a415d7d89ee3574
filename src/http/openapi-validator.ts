import type { Middleware } from 'koa';
import { ProblemError } from '../domain/kernel/problem.js';
import type { AppState, ValidatedInput } from './context.js';
import { validatorSpec } from './validation/validator-spec.js';
import { expressReplay } from './validation/express-replay.js';
import { needsNoValidation } from './validation/inputless.js';
import { nulCharacterFinder } from './validation/nul-characters.js';
import { toProblem } from './validation/validator-errors.js';

/**
 * The spec validator: checks the request against the spec (express-openapi-validator, replayed from Koa:
 * validation/express-replay.ts) and, with VALIDATE_RESPONSES, the response too.
 *
 * It reads the request's operation from `ctx.state.operation` (resolved by the router) and leaves the checked
 * parameters in `ctx.state.input`. A request without an operation still goes through the validator, which answers
 * it with the spec's 404 or 405 problem. An operation without input skips it (validation/inputless.ts).
 */
export function openApiValidator(options: { spec: object; validateResponses: boolean }): Middleware<AppState> {
  const spec = validatorSpec(options.spec);
  const replay = expressReplay(spec, options);
  const nulCharacters = nulCharacterFinder(spec);

  return async function validateAgainstSpec(ctx, next) {
    if (needsNoValidation(ctx, options)) {
      ctx.state.input = { path: {}, query: {} };
      return next();
    }
    const operation = ctx.state.operation;
    const outcome = await replay.request(ctx);
    if (!outcome.ok) throw toProblem(outcome.error);
    const { req, res } = outcome;
    // A request target the validator matched to no path at all (`GET *`), or that no operation's route takes:
    // nothing here answers it.
    if (!req.openapi || !operation) throw new ProblemError('not-found', { detail: 'There is no such route.' });
    const input: ValidatedInput = { path: req.openapi.pathParams ?? {}, query: req.query ?? {} };
    if (ctx.is('json') && req.body !== undefined) ctx.request.body = req.body as typeof ctx.request.body;
    // The validator lets an empty DELETE body through even where the body is required; the handler would read undefined.
    if (operation.requiresBody && (ctx.request.body === undefined || ctx.request.body === null)) {
      throw new ProblemError('validation-failed', { detail: '1 problem(s) in the request', errors: [{ pointer: '/body', detail: 'is required' }] });
    }
    const nul = nulCharacters({ ...input, body: ctx.request.body });
    if (nul.length) {
      throw new ProblemError('validation-failed', {
        detail: `${nul.length} problem(s) in the request`,
        errors: nul.map((pointer) => ({ pointer, detail: 'must not contain the character U+0000' })),
      });
    }
    ctx.state.input = input;

    await next();

    if (options.validateResponses) {
      const responseError = replay.response(res, ctx);
      if (responseError) {
        const error = new Error(
          `response of ${operation.operationId} (${ctx.status}) does not match the spec: ${(responseError as Error).message}`,
        );
        throw Object.assign(error, { responseBody: ctx.body });
      }
    }
  };
}
