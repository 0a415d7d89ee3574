import { ProblemError, type FieldError } from '../../domain/kernel/problem.js';

interface ValidatorHttpError {
  status: number;
  message: string;
  errors?: Array<{ path: string; message: string }>;
  headers?: Record<string, string>;
}

/**
 * At most this many field errors in a problem: a body of 1 MiB (adminImportUsers) full of unknown keys would otherwise
 * be answered with hundreds of thousands of them, ten times its own size.
 */
const MAX_FIELD_ERRORS = 100;

/** The validator's HTTP errors as the problems of the catalogue; anything else is passed on as it is. */
export function toProblem(error: unknown): unknown {
  const e = error as ValidatorHttpError;
  if (typeof e?.status !== 'number') return error;
  switch (e.status) {
    case 400:
      return new ProblemError('validation-failed', {
        detail: `${e.errors?.length ?? 1} problem(s) in the request${(e.errors?.length ?? 0) > MAX_FIELD_ERRORS ? `; the first ${MAX_FIELD_ERRORS} are listed` : ''}`,
        errors: (e.errors ?? []).slice(0, MAX_FIELD_ERRORS).map(toFieldError),
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
