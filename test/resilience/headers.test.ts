import { expect } from 'chai';
import { TestServer, refreshCookie } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

const APP_ORIGIN = 'https://app.example.com';
const OTHER_ALLOWED = 'https://admin.example.com';
const FOREIGN = 'https://evil.example';

/** The headers every answer carries, success or error, JSON or HTML (helmet in src/app.ts). */
function expectSecurityHeaders(headers: Headers, label: string, { hsts }: { hsts: boolean }) {
  expect(headers.get('x-content-type-options'), label).to.equal('nosniff');
  expect(headers.get('referrer-policy'), label).to.equal('no-referrer');
  expect(headers.get('x-frame-options'), label).to.equal('SAMEORIGIN');
  const csp = headers.get('content-security-policy') ?? '';
  expect(csp, label).to.contain("default-src 'none'").and.contain("frame-ancestors 'none'");
  expect(headers.get('x-powered-by'), label).to.equal(null);
  expect(headers.get('server'), label).to.equal(null);
  if (hsts) expect(headers.get('strict-transport-security'), label).to.match(/^max-age=\d{7,}/);
  else expect(headers.get('strict-transport-security'), label).to.equal(null);
}

describe('resilience: security headers, cookie attributes, CORS', () => {
  for (const publicUrl of ['http://pulse-auth.test', 'https://pulse-auth.test']) {
    const https = publicUrl.startsWith('https:');
    describe(`with PUBLIC_URL ${publicUrl}`, () => {
      let app: TestServer;
      let account: { email: string; password: string };
      before(async () => {
        app = await TestServer.start({ PUBLIC_URL: publicUrl, CORS_ORIGINS: `${APP_ORIGIN},${OTHER_ALLOWED}` });
        account = await app.createUser();
      });
      after(() => app?.stop());

      it('sets the security headers on API answers, error answers and the docs', async () => {
        const { accessToken } = await app.login(account.email, account.password, 'body');
        const cases: [string, string, { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> }, number][] = [
          ['GET', '/v1/me', { token: accessToken }, 200],
          ['GET', '/.well-known/jwks.json', {}, 200],
          ['GET', '/health', {}, 200],
          ['GET', '/v1/me', {}, 401],
          ['POST', '/v1/auth/login', { body: { email: account.email, password: 'wrong password!' } }, 401],
          ['POST', '/v1/auth/login', { body: { email: 'not-an-email' } }, 400],
          ['POST', '/v1/auth/login', { rawBody: '{"email":', headers: { 'content-type': 'application/json' } }, 400],
          ['GET', '/v1/no-such-route', {}, 404],
        ];
        for (const [method, path, options, status] of cases) {
          const reply = await app.request(method, path, options);
          expect(reply.status, `${method} ${path}`).to.equal(status);
          expectSecurityHeaders(reply.headers, `${method} ${path} ${status}`, { hsts: https });
        }
        const docs = await fetch(`${app.baseUrl}/docs`);
        await docs.arrayBuffer();
        // The page is built by `npm run build:docs`; without it /docs is a 404 problem, which needs the headers too.
        expect(docs.status).to.be.oneOf([200, 404]);
        expect(docs.headers.get('x-content-type-options')).to.equal('nosniff');
        expect(docs.headers.get('referrer-policy')).to.equal('no-referrer');
        expect(docs.headers.get('content-security-policy')).to.contain("default-src 'none'").and.contain("frame-ancestors 'none'");
        expect(docs.headers.get('x-powered-by')).to.equal(null);
        expect(docs.headers.has('strict-transport-security')).to.equal(https);
      });

      it(`sets the refresh cookie HttpOnly, SameSite=Strict, Path=/v1/auth, ${https ? 'with' : 'without'} Secure`, async () => {
        const login = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password, refreshTokenDelivery: 'cookie' } });
        expect(login.status).to.equal(200);
        const cookies = [refreshCookie(login.headers)!];
        const refreshed = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: cookies[0].split(';')[0] } });
        expect(refreshed.status, refreshed.text).to.equal(200);
        cookies.push(refreshCookie(refreshed.headers)!);
        const logout = await app.request('POST', '/v1/auth/logout', { headers: { cookie: cookies[1].split(';')[0] } });
        expect(logout.status).to.equal(204);
        cookies.push(refreshCookie(logout.headers)!); // the clearing cookie
        for (const cookie of cookies) {
          expect(cookie).to.be.a('string');
          const attributes = cookie.split(';').slice(1).map((part) => part.trim().toLowerCase());
          expect(attributes, cookie).to.include('httponly').and.include('samesite=strict').and.include('path=/v1/auth');
          expect(attributes.includes('secure'), cookie).to.equal(https);
          expect(attributes.some((attribute) => attribute.startsWith('domain=')), cookie).to.equal(false);
        }
      });

      it('answers CORS for configured origins only, preflight and actual request', async () => {
        for (const origin of [APP_ORIGIN, OTHER_ALLOWED]) {
          const preflight = await fetch(`${app.baseUrl}/v1/auth/refresh`, {
            method: 'OPTIONS',
            headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
          });
          expect(preflight.status, origin).to.be.oneOf([200, 204]);
          expect(preflight.headers.get('access-control-allow-origin')).to.equal(origin);
          expect(preflight.headers.get('access-control-allow-credentials')).to.equal('true');
          expect(preflight.headers.get('access-control-allow-methods')).to.contain('POST');
          expect(preflight.headers.get('vary') ?? '').to.match(/origin/i);
          const actual = await app.request('GET', '/.well-known/jwks.json', { headers: { origin } });
          expect(actual.headers.get('access-control-allow-origin')).to.equal(origin);
          expect(actual.headers.get('access-control-allow-credentials')).to.equal('true');
          expect(actual.headers.get('access-control-expose-headers')).to.contain('WWW-Authenticate');
        }
        for (const origin of [FOREIGN, 'null', `${APP_ORIGIN}.evil.example`, 'http://app.example.com', publicUrl]) {
          const preflight = await fetch(`${app.baseUrl}/v1/auth/refresh`, {
            method: 'OPTIONS',
            headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
          });
          expect(preflight.headers.get('access-control-allow-origin'), origin).to.equal(null);
          expect(preflight.headers.get('access-control-allow-credentials'), origin).to.equal(null);
          const actual = await app.request('GET', '/.well-known/jwks.json', { headers: { origin } });
          expect(actual.headers.get('access-control-allow-origin'), origin).to.equal(null);
        }
      });
    });
  }
});

/**
 * The origin check of refreshTokens and logout (the operations that read the refresh cookie): a foreign page is
 * refused with 403 origin-not-allowed before anything changes.
 */
describe('resilience: refresh and logout refuse foreign origins (CSRF)', () => {
  let app: TestServer;
  let account: { email: string; password: string };
  before(async () => {
    app = await TestServer.start({ CORS_ORIGINS: APP_ORIGIN });
    account = await app.createUser();
  });
  after(() => app?.stop());

  const refreshWith = (refreshToken: string, headers: Record<string, string>) =>
    app.request('POST', '/v1/auth/refresh', { body: { refreshToken }, headers });
  const refused = (reply: { status: number; body: any; headers: Headers }, label: string) => {
    failWith(reply, 403, 'origin-not-allowed', label);
    expect(refreshCookie(reply.headers), label).to.equal(undefined);
  };

  it('refuses a refresh from a foreign Origin and leaves the session as it was', async () => {
    const session = await app.login(account.email, account.password, 'body');
    for (const origin of [FOREIGN, 'null', 'http://pulse-auth.test.evil.example', 'https://pulse-auth.test', 'http://app.test:8080', 'garbage']) {
      refused(await refreshWith(session.refreshToken!, { origin }), origin);
    }
    // Not rotated: the same token still refreshes, once, and is not treated as a replay.
    const ok = await refreshWith(session.refreshToken!, {});
    expect(ok.status, ok.text).to.equal(200);
    expect(ok.body.session.id).to.equal(session.session.id);
    expect((await app.request('GET', '/v1/me', { token: ok.body.accessToken })).status).to.equal(200);
  });

  it('refuses a cookie refresh from a foreign Origin without rotating the cookie', async () => {
    const login = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password, refreshTokenDelivery: 'cookie' } });
    const cookie = refreshCookie(login.headers)!.split(';')[0];
    refused(await app.request('POST', '/v1/auth/refresh', { headers: { cookie, origin: FOREIGN } }), 'cookie + foreign origin');
    const ok = await app.request('POST', '/v1/auth/refresh', { headers: { cookie, origin: APP_ORIGIN } });
    expect(ok.status, ok.text).to.equal(200);
    expect(ok.body.session.id).to.equal(login.body.session.id);
  });

  it('accepts the own origin, the APP_URL origin, a configured CORS origin, and no Origin at all', async () => {
    let { refreshToken } = await app.login(account.email, account.password, 'body');
    for (const headers of [
      { origin: 'http://pulse-auth.test' },
      { origin: 'http://app.test' },
      { origin: APP_ORIGIN },
      {},
      { referer: 'http://app.test/account/settings?tab=1' },
      { referer: `${APP_ORIGIN}/` },
    ] as Record<string, string>[]) {
      const reply = await refreshWith(refreshToken!, headers);
      expect(reply.status, `${JSON.stringify(headers)}: ${reply.text}`).to.equal(200);
      refreshToken = reply.body.refreshToken;
    }
  });

  it('falls back to the Referer when there is no Origin, and Origin wins when both are sent', async () => {
    const { refreshToken } = await app.login(account.email, account.password, 'body');
    refused(await refreshWith(refreshToken!, { referer: `${FOREIGN}/phish.html` }), 'foreign referer');
    refused(await refreshWith(refreshToken!, { referer: 'not a url' }), 'garbage referer');
    refused(await refreshWith(refreshToken!, { origin: FOREIGN, referer: `${APP_ORIGIN}/` }), 'foreign origin, good referer');
    const ok = await refreshWith(refreshToken!, { origin: APP_ORIGIN, referer: `${FOREIGN}/` });
    expect(ok.status, ok.text).to.equal(200);
  });

  it('refuses a logout from a foreign origin, by bearer token, body or cookie, and the session stays live', async () => {
    const login = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password, refreshTokenDelivery: 'cookie' } });
    const cookie = refreshCookie(login.headers)!.split(';')[0];
    const { accessToken } = login.body;
    const body = await app.login(account.email, account.password, 'body');
    refused(await app.request('POST', '/v1/auth/logout', { token: accessToken, headers: { origin: FOREIGN } }), 'bearer');
    refused(await app.request('POST', '/v1/auth/logout', { headers: { cookie, origin: FOREIGN } }), 'cookie');
    refused(await app.request('POST', '/v1/auth/logout', { body: { refreshToken: body.refreshToken }, headers: { referer: `${FOREIGN}/x` } }), 'body, referer');
    expect((await app.request('GET', '/v1/me', { token: accessToken })).status).to.equal(200);
    expect((await app.request('GET', '/v1/me', { token: body.accessToken })).status).to.equal(200);
    // From the app itself, the same requests sign out.
    expect((await app.request('POST', '/v1/auth/logout', { headers: { cookie, origin: 'http://app.test' } })).status).to.equal(204);
    expect((await app.request('GET', '/v1/me', { token: accessToken })).status).to.equal(401);
    expect((await app.request('POST', '/v1/auth/logout', { body: { refreshToken: body.refreshToken } })).status).to.equal(204);
    expect((await app.request('GET', '/v1/me', { token: body.accessToken })).status).to.equal(401);
  });
});
