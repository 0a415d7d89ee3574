/**
 * Pulse Auth client: a thin layer over openapi-fetch. Every operation of openapi/openapi.yaml is a typed call,
 * `client.POST('/v1/auth/login', { body })`, answering `{ data, error, response }` with `data` typed by the success
 * response and `error` by the problem documents (RFC 9457) the operation can answer with.
 *
 * What this file adds to `createClient<paths>()`:
 * - the base URL of the Pulse Auth server;
 * - `credentials: 'include'` by default, so a browser sends and stores the `pulse_auth_refresh` cookie (cookie
 *   delivery; the server must list the app's origin in its CORS settings);
 * - the access token as `Authorization: Bearer …` on every request, from `setAccessToken()` or a getter of yours.
 *
 * `schema.d.ts` next to this file is generated from the spec by openapi-typescript (`npm run sdk`); do not edit it.
 */
import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema.js';

export type { components, operations, paths } from './schema.js';

/** The named schemas of the spec: `Schemas['User']`, `Schemas['TokenResponse']`, … */
export type Schemas = components['schemas'];
/** An error answer (`application/problem+json`). Match on `code`. */
export type Problem = Schemas['Problem'];
export type TokenResponse = Schemas['TokenResponse'];
export type MfaChallenge = Schemas['MfaChallenge'];
export type LoginResponse = Schemas['LoginResponse'];

/** Returns the access token to send, or nothing to send none. Called before every request. */
export type AccessTokenSource = () => string | null | undefined | Promise<string | null | undefined>;

export interface PulseAuthClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** Where Pulse Auth answers, e.g. `https://auth.example.com` (without `/v1`). */
  baseUrl: string;
  /**
   * Where the access token comes from, when you keep it yourself (a store, secure storage). Without it, the client
   * sends whatever was last given to `setAccessToken()`.
   */
  accessToken?: AccessTokenSource;
}

export interface PulseAuthClient extends Client<paths> {
  /** The token to send as `Authorization: Bearer …` from now on; `null` to send none. Ignored with `accessToken`. */
  setAccessToken(token: string | null): void;
}

/** Creates a client for one Pulse Auth server. */
export function createPulseAuthClient(options: PulseAuthClientOptions): PulseAuthClient {
  const { accessToken, baseUrl, ...rest } = options;
  let current: string | null = null;
  const tokenSource: AccessTokenSource = accessToken ?? (() => current);

  const client = createClient<paths>({ credentials: 'include', ...rest, baseUrl: baseUrl.replace(/\/+$/, '') });
  const bearer: Middleware = {
    async onRequest({ request }) {
      // A header given for one call (`headers: { authorization }`) wins.
      if (request.headers.has('authorization')) return undefined;
      const token = await tokenSource();
      if (token) request.headers.set('authorization', `Bearer ${token}`);
      return request;
    },
  };
  client.use(bearer);

  return Object.assign(client, {
    setAccessToken(token: string | null) {
      current = token;
    },
  });
}

/** Whether a `login` answer asks for a second factor (finish with `POST /v1/auth/mfa/verify`) instead of tokens. */
export function isMfaChallenge(answer: LoginResponse): answer is MfaChallenge {
  return answer.outcome === 'mfa-required'; // `if (answer.outcome === 'mfa-required')` narrows the same without it
}
