import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
// @ts-expect-error -- oidc-provider 9 ships no type declarations; the little used here is typed below.
import Provider from 'oidc-provider';
import { responseProblems } from './spec-validator.js';

/** What the provider knows about one of its users; these become the ID token's claims. */
export interface ProviderAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A real OpenID Connect provider (oidc-provider 9) on 127.0.0.1, with one confidential client for Pulse Auth
 * (authorization code, PKCE required, client_secret_post) and oidc-provider's built-in development login and
 * consent pages. Its users are `accounts` (accountId → claims): the account id is the `sub`, and logging in at
 * the dev login page with an account id signs in as that account.
 *
 * Two steps, because each side needs the other's URL: `listen()` binds the port (the issuer is then known, for
 * Pulse Auth's configuration), `configure(redirectUri)` builds the provider once Pulse Auth's callback URL is known.
 */
export class TestOidcProvider {
  readonly accounts = new Map<string, ProviderAccount>();
  readonly clientId = 'pulse-auth-test-client';
  readonly clientSecret = 'pulse-auth-test-client-secret-0123456789';
  issuer = '';
  private readonly server: Server;
  private handler?: Handler;

  private constructor() {
    this.server = createServer((req, res) => {
      if (this.handler) return this.handler(req, res);
      res.statusCode = 503;
      res.end('not configured yet');
    });
  }

  private accountsMade = 0;

  /** A new user at the provider with these claims; returns the id to log in with there (also the identity's `sub`). */
  newAccount(claims: ProviderAccount, prefix = 'acme-user'): string {
    const id = `${prefix}-${process.pid}-${++this.accountsMade}`;
    this.accounts.set(id, claims);
    return id;
  }

  static async listen(): Promise<TestOidcProvider> {
    const instance = new TestOidcProvider();
    instance.server.listen(0, '127.0.0.1');
    await once(instance.server, 'listening');
    instance.issuer = `http://127.0.0.1:${(instance.server.address() as AddressInfo).port}`;
    return instance;
  }

  /** Pulse Auth's configuration for this provider under `name` (OIDC_PROVIDERS is left to the caller). */
  envFor(name: string): Record<string, string> {
    const prefix = `OIDC_${name.toUpperCase().replace(/-/g, '_')}_`;
    return {
      [`${prefix}ISSUER`]: this.issuer,
      [`${prefix}CLIENT_ID`]: this.clientId,
      [`${prefix}CLIENT_SECRET`]: this.clientSecret,
      OIDC_ALLOW_HTTP_ISSUERS: 'true',
    };
  }

  configure(redirectUri: string): void {
    const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const provider = new Provider(this.issuer, {
      clients: [
        {
          client_id: this.clientId,
          client_secret: this.clientSecret,
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_post',
        },
      ],
      pkce: { required: () => true },
      scopes: ['openid', 'email', 'profile'],
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      // Like Google, put the scopes' claims in the ID token itself (oidc-provider's default keeps them for
      // userinfo when an access token is issued too; Pulse Auth reads the ID token).
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: true } },
      cookies: { keys: ['test-cookie-signing-key-0123456789'] },
      jwks: { keys: [{ ...signingKey, use: 'sig', alg: 'RS256', kid: 'test-key' }] },
      findAccount: async (_ctx: unknown, id: string) => {
        const account = this.accounts.get(id);
        if (!account) return undefined;
        return { accountId: id, claims: async () => ({ sub: id, ...account }) };
      },
    });
    this.handler = provider.callback() as Handler;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

interface StoredCookie {
  value: string;
  path: string;
}

export interface FlowOptions {
  /** Which provider account signs in at the dev login page. */
  login?: string;
  /** Give consent (the default) or abort at the consent page. */
  consent?: 'allow' | 'deny';
  /** Stop at the redirect back to Pulse Auth's callback and return its URL instead of following it. */
  stopAtCallback?: boolean;
}

export interface FlowResult {
  /** The URL the flow stopped at: the app's landing page (`{APP_URL}/oauth/complete?...`), or the callback URL. */
  location: string;
  /** The query of `location`. */
  outcome: URLSearchParams;
  /** Every Set-Cookie Pulse Auth sent during this flow. */
  pulseSetCookies: string[];
  /** `pulse_auth_refresh=<token>` when Pulse Auth set a refresh cookie during this flow, ready for a Cookie header. */
  refreshCookie?: string;
  /** Every URL requested, in order. */
  visited: string[];
}

/**
 * A scripted browser: fetch without automatic redirects, a cookie jar per origin (host and port: Pulse Auth and
 * the provider share 127.0.0.1 on different ports, and their cookie names and paths do not overlap), forms posted
 * as a user would. Only 127.0.0.1 is ever requested; a redirect anywhere else (the app at APP_URL) ends the flow
 * there. Responses from Pulse Auth are checked against the spec like TestServer.request does.
 */
export class Browser {
  private readonly jar = new Map<string, Map<string, StoredCookie>>();

  constructor(private readonly pulseUrl: string) {}

  /** Starts a social sign-in (`startOAuth`) and follows it to its end. */
  signIn(provider: string, options: FlowOptions & { intent?: 'login' | 'link' } = {}): Promise<FlowResult> {
    const query = options.intent ? `?intent=${options.intent}` : '';
    return this.follow(`${this.pulseUrl}/v1/auth/oauth/${provider}/authorize${query}`, options);
  }

  /** Navigates to `url` and follows redirects and the provider's pages until the flow leaves 127.0.0.1. */
  async follow(url: string, options: FlowOptions = {}): Promise<FlowResult> {
    const visited: string[] = [];
    const pulseSetCookies: string[] = [];
    let next: { url: string; method: 'GET' | 'POST'; form?: Record<string, string> } = { url, method: 'GET' };
    for (let hop = 0; hop < 20; hop += 1) {
      const target = new URL(next.url);
      if (target.hostname !== '127.0.0.1') return this.result(next.url, visited, pulseSetCookies);
      if (options.stopAtCallback && target.origin === new URL(this.pulseUrl).origin && /^\/v1\/auth\/oauth\/[^/]+\/callback$/.test(target.pathname)) {
        return this.result(next.url, visited, pulseSetCookies);
      }
      visited.push(`${next.method} ${next.url}`);
      const response = await this.request(next.url, next.method, next.form);
      if (target.origin === new URL(this.pulseUrl).origin) pulseSetCookies.push(...response.headers.getSetCookie());
      const text = await response.text();

      if (response.status >= 300 && response.status < 400) {
        const location = response.headers.get('location');
        expect(location, `${next.method} ${next.url} → ${response.status} without Location`).to.be.a('string');
        next = { url: new URL(location!, next.url).href, method: 'GET' };
        continue;
      }
      const prompt = /name="prompt" value="(login|consent)"/.exec(text)?.[1];
      const action = /<form[^>]*action="([^"]+)"/.exec(text)?.[1]?.replace(/&amp;/g, '&');
      if (response.status === 200 && /^\/interaction\/[^/]+$/.test(target.pathname) && prompt && action) {
        if (prompt === 'login') {
          if (!options.login) throw new Error('the provider asks for a login and no `login` was given');
          next = { url: new URL(action, next.url).href, method: 'POST', form: { prompt: 'login', login: options.login, password: 'any' } };
        } else if (options.consent === 'deny') {
          next = { url: `${target.origin}${target.pathname}/abort`, method: 'GET' };
        } else {
          next = { url: new URL(action, next.url).href, method: 'POST', form: { prompt: 'consent' } };
        }
        continue;
      }
      throw new Error(`unexpected ${response.status} from ${next.method} ${next.url}: ${text.slice(0, 500)}\nvisited:\n${visited.join('\n')}`);
    }
    throw new Error(`the flow did not end after 20 requests:\n${visited.join('\n')}`);
  }

  /** One request with this browser's cookies (the jar is updated from the answer); no redirect is followed. */
  async request(url: string, method: 'GET' | 'POST' = 'GET', form?: Record<string, string>): Promise<Response> {
    const target = new URL(url);
    const headers: Record<string, string> = { 'user-agent': 'pulse-auth-test-browser' };
    const cookie = this.cookieHeader(url);
    if (cookie) headers.cookie = cookie;
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, { method, headers, body: form ? new URLSearchParams(form).toString() : undefined, redirect: 'manual' });
    for (const setCookie of response.headers.getSetCookie()) this.store(url, setCookie);
    if (target.origin === new URL(this.pulseUrl).origin) {
      const clone = response.clone();
      const text = await clone.text();
      const contentType = response.headers.get('content-type');
      const body = text && /json/.test(contentType ?? '') ? JSON.parse(text) : text || undefined;
      const problems = responseProblems(method, target.pathname, response.status, contentType, body);
      expect(problems, `${method} ${url} → ${response.status} ${text.slice(0, 300)}`).to.deep.equal([]);
    }
    return response;
  }

  /** Keeps a cookie as if `url` had answered with this Set-Cookie header. */
  store(url: string, setCookie: string): void {
    const [pair, ...attributes] = setCookie.split(';').map((part) => part.trim());
    const equals = pair.indexOf('=');
    const name = pair.slice(0, equals);
    const value = pair.slice(equals + 1);
    const requestPath = new URL(url).pathname;
    let path = requestPath.slice(0, requestPath.lastIndexOf('/')) || '/';
    let expired = false;
    for (const attribute of attributes) {
      const [key, ...rest] = attribute.split('=');
      const argument = rest.join('=');
      if (/^path$/i.test(key) && argument.startsWith('/')) path = argument;
      if (/^max-age$/i.test(key) && Number(argument) <= 0) expired = true;
      if (/^expires$/i.test(key) && Date.parse(argument) <= Date.now()) expired = true;
    }
    const origin = new URL(url).origin;
    const cookies = this.jar.get(origin) ?? new Map<string, StoredCookie>();
    this.jar.set(origin, cookies);
    const key = `${path} ${name}`;
    if (expired) cookies.delete(key);
    else cookies.set(key, { value, path });
  }

  /** The Cookie header this browser sends to `url`. */
  cookieHeader(url: string): string {
    const { origin, pathname } = new URL(url);
    const cookies = this.jar.get(origin) ?? new Map<string, StoredCookie>();
    return [...cookies.entries()]
      .filter(([, cookie]) => pathMatches(pathname, cookie.path))
      .map(([key, cookie]) => `${key.slice(key.indexOf(' ') + 1)}=${cookie.value}`)
      .join('; ');
  }

  /** The value of a cookie this browser would send to `url`. */
  cookie(url: string, name: string): string | undefined {
    const { origin, pathname } = new URL(url);
    for (const [key, cookie] of this.jar.get(origin) ?? []) {
      if (key.slice(key.indexOf(' ') + 1) === name && pathMatches(pathname, cookie.path)) return cookie.value;
    }
    return undefined;
  }

  private result(location: string, visited: string[], pulseSetCookies: string[]): FlowResult {
    const refresh = pulseSetCookies
      .map((cookie) => cookie.split(';')[0])
      .filter((pair) => pair.startsWith('pulse_auth_refresh=') && pair.length > 'pulse_auth_refresh='.length)
      .pop();
    return { location, outcome: new URL(location).searchParams, pulseSetCookies, refreshCookie: refresh, visited };
  }
}

/** RFC 6265 path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath.charAt(cookiePath.length) === '/';
}
