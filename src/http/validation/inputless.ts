import type { AppContext } from '../context.js';

/**
 * The operations that take no input at all (no parameters, no body: getMe, getHealth, getJwks…) have nothing for
 * the spec validator to check, yet replaying a request through express-openapi-validator costs more than the whole
 * of getMe. A request that names one of them exactly (method and path as written in the spec, no body) needs no
 * replay. Anything else (another spelling of the path, a body) still goes through the validator; so does everything
 * while responses are validated (tests, development), since the response check needs the validator's own objects.
 */
export function needsNoValidation(ctx: AppContext, options: { validateResponses: boolean }): boolean {
  const operation = ctx.state.operation;
  return (
    operation !== undefined &&
    !options.validateResponses &&
    !operation.takesInput &&
    ctx.method === operation.method.toUpperCase() &&
    ctx.path === operation.path &&
    ctx.request.body === undefined &&
    !ctx.get('content-type')
  );
}
