import type { operations } from '../../generated/openapi.js';
import type { AppContext } from './context.js';
import type { OperationId } from './operation-policy.js';

export type { OperationId, OperationPolicy, OperationPolicies } from './operation-policy.js';

type JsonContent<T> = T extends { content: { 'application/json': infer Body } } ? Body : undefined;
type Parameters<O extends OperationId, Where extends 'path' | 'query'> = operations[O]['parameters'][Where] extends infer P
  ? [P] extends [undefined] | [never]
    ? Record<string, never>
    : NonNullable<P>
  : never;

export type RequestBody<O extends OperationId> = operations[O] extends { requestBody: infer R }
  ? JsonContent<R>
  : operations[O] extends { requestBody?: infer R }
    ? JsonContent<NonNullable<R>> | undefined
    : undefined;

type Responses<O extends OperationId> = operations[O]['responses'];
/** Statuses a handler returns; errors are thrown as ProblemError instead. */
type SuccessStatus<O extends OperationId> = Extract<keyof Responses<O>, 200 | 201 | 202 | 204 | 302 | 303>;

export type HandlerResult<O extends OperationId> = {
  [S in SuccessStatus<O>]: JsonContent<Responses<O>[S]> extends undefined
    ? { status: S; body?: undefined }
    : { status: S; body: JsonContent<Responses<O>[S]> };
}[SuccessStatus<O>];

export interface HandlerInput<O extends OperationId> {
  body: RequestBody<O>;
  path: Parameters<O, 'path'>;
  query: Parameters<O, 'query'>;
  ctx: AppContext;
}

export type Handler<O extends OperationId> = (input: HandlerInput<O>) => Promise<HandlerResult<O>>;

/** One handler per operation of the spec: a missing, extra or mis-shaped handler does not compile. */
export type Handlers = { [O in OperationId]: Handler<O> };
