import type { components } from '../../generated/openapi.js';
import type { ProblemError } from '../domain/kernel/problem.js';

export type ProblemBody = components['schemas']['Problem'];

export const PROBLEM_TYPE_PREFIX = 'urn:pulse-auth:problem:';

/** The RFC 9457 body of a problem; its detail only when the problem may be shown to the client. */
export function problemBody(problem: ProblemError, requestId: string): ProblemBody {
  return {
    type: PROBLEM_TYPE_PREFIX + problem.code,
    code: problem.code,
    title: problem.title,
    status: problem.status,
    ...(problem.detail && problem.expose ? { detail: problem.detail } : {}),
    requestId,
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
}
