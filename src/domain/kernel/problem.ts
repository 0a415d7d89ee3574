import type { components } from '../../../generated/openapi.js';

export type ProblemCode = components['schemas']['ProblemCode'];
export type FieldError = components['schemas']['ProblemFieldError'];

/** Status and title of each problem code; the spec's `ProblemCode` enum is the list of codes. */
const CATALOGUE: Record<ProblemCode, { status: number; title: string }> = {
  'validation-failed': { status: 400, title: 'The request is not valid' },
  'malformed-body': { status: 400, title: 'The body is not valid JSON' },
  'weak-password': { status: 422, title: 'The password is too weak' },
  'invalid-verification-token': { status: 400, title: 'The verification link is not valid' },
  'invalid-reset-token': { status: 400, title: 'The password-reset link is not valid' },
  'invalid-credentials': { status: 401, title: 'Wrong email or password' },
  'account-disabled': { status: 403, title: 'The account is disabled' },
  'authentication-required': { status: 401, title: 'Authentication required' },
  'invalid-access-token': { status: 401, title: 'The access token is not valid' },
  'invalid-refresh-token': { status: 401, title: 'The refresh token is not valid' },
  'current-password-incorrect': { status: 403, title: 'The current password is not correct' },
  'reauthentication-required': { status: 403, title: 'Confirm it is you' },
  'registration-password-mismatch': { status: 403, title: 'The password does not match this sign-up' },
  'invalid-totp-code': { status: 422, title: 'The code does not match' },
  'invalid-mfa-code': { status: 401, title: 'The code is not valid' },
  'mfa-challenge-invalid': { status: 401, title: 'The sign-in challenge is no longer valid' },
  'invalid-email-sign-in': { status: 401, title: 'The sign-in link or code is not valid' },
  'totp-already-enabled': { status: 409, title: 'The authenticator app is already on' },
  'totp-not-enabled': { status: 409, title: 'The authenticator app is not on' },
  'last-sign-in-method': { status: 409, title: "This is the account's last way to sign in" },
  forbidden: { status: 403, title: 'Forbidden' },
  'last-admin': { status: 409, title: 'This is the last administrator' },
  'not-deleted': { status: 409, title: 'The account is not deleted' },
  'signing-key-configured': { status: 409, title: 'The signing key is configured' },
  'origin-not-allowed': { status: 403, title: 'The request comes from an origin that is not allowed' },
  'passkey-challenge-invalid': { status: 400, title: 'The passkey challenge is not valid' },
  'passkey-registration-failed': { status: 400, title: 'The passkey registration did not verify' },
  'passkey-already-registered': { status: 409, title: 'This passkey is registered already' },
  'passkey-sign-in-failed': { status: 401, title: 'The passkey sign-in did not verify' },
  'not-a-member': { status: 404, title: 'Not a member of this organization' },
  'insufficient-role': { status: 403, title: 'Your role in this organization does not allow this' },
  'last-owner': { status: 409, title: 'This is the last owner' },
  'slug-taken': { status: 409, title: 'The slug is taken' },
  'already-a-member': { status: 409, title: 'Already a member' },
  'invitation-invalid': { status: 400, title: 'The invitation is not valid' },
  'invitation-email-mismatch': { status: 403, title: 'The invitation is for another email' },
  'invitation-used': { status: 409, title: 'The invitation was used already' },
  'invitation-expired': { status: 410, title: 'The invitation has expired' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'payload-too-large': { status: 413, title: 'Payload too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'too-many-failed-attempts': { status: 429, title: 'Too many failed sign-ins' },
  'internal-error': { status: 500, title: 'Internal error' },
  'service-unavailable': { status: 503, title: 'Service unavailable' },
  'server-busy': { status: 503, title: 'The server is busy' },
  // A row's problem in adminImportUsers' answer, never a response of its own.
  'invalid-password-hash': { status: 422, title: 'The password hash cannot be imported' },
  'webhook-url-refused': { status: 422, title: 'The webhook URL is not allowed' },
};

export interface ProblemOptions {
  detail?: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * A failure with a stable code from the catalogue. Domain code throws these; src/http renders them as RFC 9457
 * responses (http/problem.ts). A 500 never exposes its detail (Koa's http-errors convention).
 */
export class ProblemError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail?: string;
  readonly errors?: FieldError[];
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ProblemCode,
    options: ProblemOptions = {},
  ) {
    super(options.detail ?? CATALOGUE[code].title, { cause: options.cause });
    this.name = 'ProblemError';
    this.status = CATALOGUE[code].status;
    this.title = CATALOGUE[code].title;
    this.detail = options.detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }

  /** Whether `detail` goes to the client: not for 500s (it may describe internals), yes for an outage or overload. */
  get expose(): boolean {
    return this.status < 500 || this.code === 'service-unavailable' || this.code === 'server-busy';
  }
}

export const problem = (code: ProblemCode, options?: ProblemOptions) => new ProblemError(code, options);
