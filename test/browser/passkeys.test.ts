import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { expect } from 'chai';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { TestServer } from '../helpers/server.js';
import { responseProblems } from '../helpers/spec-validator.js';
import { LoginAttemptSchema, PasskeySchema } from '../../src/db/entities.js';

/**
 * Passkeys in a real browser: headless Chromium with its virtual authenticator (DevTools protocol, a CTAP2 platform
 * authenticator with resident keys and user verification), a page on http://localhost:<port> (an IP address is not
 * a valid RP ID) that registers a passkey and signs in with it through the API, with `@simplewebauthn/browser` as
 * the spec's introduction shows. The API is another origin (CORS_ORIGINS names the page), as for most apps.
 */

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const require = createRequire(import.meta.url);
const BROWSER_BUNDLE = readFileSync(join(dirname(dirname(require.resolve('@simplewebauthn/browser'))), 'dist/bundle/index.umd.min.js'), 'utf8');

/** The app's page: the client code a team would write from the spec's introduction, on window for the test to call. */
const PAGE = (api: string) => `<!doctype html>
<html><head><meta charset="utf-8"><title>Passkeys</title><script src="/simplewebauthn-browser.js"></script></head>
<body><main id="out">ready</main>
<script>
const { startRegistration, startAuthentication } = SimpleWebAuthnBrowser;
async function api(method, path, body, token) {
  const response = await fetch(${JSON.stringify(api)} + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: 'Bearer ' + token } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(path + ': ' + response.status + ' ' + answer.code);
  return answer;
}
window.addPasskey = async (email, password) => {
  const session = await api('POST', '/v1/auth/login', { email, password, refreshTokenDelivery: 'body' });
  const reg = await api('POST', '/v1/me/passkeys/options', { password }, session.accessToken);
  const credential = await startRegistration({ optionsJSON: reg.options });
  return api('POST', '/v1/me/passkeys', { challengeId: reg.challengeId, credential, name: 'Chromium virtual authenticator' }, session.accessToken);
};
window.signInWithPasskey = async () => {
  const start = await api('POST', '/v1/auth/passkey/options', {});
  const assertion = await startAuthentication({ optionsJSON: start.options });
  const tokens = await api('POST', '/v1/auth/passkey/verify', { challengeId: start.challengeId, credential: assertion, refreshTokenDelivery: 'body' });
  document.getElementById('out').textContent = 'signed in as ' + tokens.user.email;
  return tokens;
};
</script></body></html>`;

describe('passkeys in a real browser (headless Chromium, virtual authenticator)', function () {
  this.timeout(60_000);
  let app: TestServer;
  let pages: Server;
  let pageOrigin: string;
  let context: BrowserContext;
  let userDataDir: string;
  let problems: string[];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`skipped: ${CHROMIUM} not found (apt-get install chromium)`);
      this.skip();
    }
    // The app's own origin, bound first so that the API can name it as its relying party's origin.
    let api = '';
    pages = createServer((request, response) => {
      if (request.url === '/simplewebauthn-browser.js') {
        response.writeHead(200, { 'content-type': 'text/javascript' }).end(BROWSER_BUNDLE);
      } else if (request.url === '/') {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE(api));
      } else {
        response.writeHead(404).end();
      }
    });
    pages.listen(0, '127.0.0.1');
    await once(pages, 'listening');
    pageOrigin = `http://localhost:${(pages.address() as AddressInfo).port}`;
    app = await TestServer.start({ WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: pageOrigin, CORS_ORIGINS: pageOrigin });
    api = app.baseUrl;
    userDataDir = mkdtempSync(join(tmpdir(), 'pulse-auth-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    // Nothing leaves this machine: only the page (localhost) and the API (127.0.0.1).
    await context.route(
      (url) => url.hostname !== 'localhost' && url.hostname !== '127.0.0.1',
      (route) => {
        problems.push(`request to ${route.request().url()}`);
        return route.abort('blockedbyclient');
      },
    );
  });

  after(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await app?.stop();
    pages?.close();
  });

  /** A tab on the app's page with a virtual platform authenticator that holds resident keys and verifies the user. */
  async function pageWithAuthenticator(): Promise<{ page: Page; cdp: CDPSession; authenticatorId: string }> {
    const page = await context.newPage();
    page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
    page.on('response', async (response) => {
      const url = new URL(response.url());
      if (url.origin !== app.baseUrl || response.request().method() === 'OPTIONS') return;
      const text = await response.text().catch(() => '');
      const contentType = response.headers()['content-type'] ?? null;
      const body = text && /json/.test(contentType ?? '') ? JSON.parse(text) : undefined;
      problems.push(...responseProblems(response.request().method(), url.pathname, response.status(), contentType, body));
    });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    await page.goto(`${pageOrigin}/`);
    return { page, cdp, authenticatorId };
  }

  it('registers a passkey from the page and signs in with it through the API, with no email typed', async () => {
    problems = [];
    const account = await app.createUser();
    const { page, cdp, authenticatorId } = await pageWithAuthenticator();

    const passkey = await page.evaluate(({ email, password }) => (globalThis as any).addPasskey(email, password), { email: account.email, password: account.password });
    expect(passkey).to.include({ name: 'Chromium virtual authenticator' });
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials, 'one resident credential in the authenticator').to.have.length(1);
    expect(credentials[0]).to.include({ isResidentCredential: true, rpId: 'localhost' });
    const stored = await app.services.orm.em.fork().findOneOrFail(PasskeySchema, { id: passkey.id });
    expect(stored.credentialId).to.equal(credentials[0].credentialId.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));

    const tokens = await page.evaluate(() => (globalThis as any).signInWithPasskey());
    expect(tokens).to.include({ outcome: 'signed-in' });
    expect(tokens.user.email).to.equal(account.email);
    expect(await page.locator('#out').innerText()).to.equal(`signed in as ${account.email}`);
    const [attempt] = await app.services.orm.em.fork().find(LoginAttemptSchema, { userId: stored.userId, method: 'passkey' });
    expect(attempt).to.include({ outcome: 'success' });
    const me = await app.request('GET', '/v1/me', { token: tokens.accessToken });
    expect(me.status).to.equal(200);
    expect(problems, 'problems seen in the browser').to.deep.equal([]);
    await page.close();
  });

  it('a second registration of the same authenticator is refused by the browser itself (excludeCredentials)', async () => {
    problems = [];
    const account = await app.createUser();
    const { page } = await pageWithAuthenticator();
    await page.evaluate(({ email, password }) => (globalThis as any).addPasskey(email, password), { email: account.email, password: account.password });
    const second = await page.evaluate(
      ({ email, password }) => (globalThis as any).addPasskey(email, password).then(() => 'registered', (error: Error) => `${error.name}: ${error.message}`),
      { email: account.email, password: account.password },
    );
    expect(second).to.match(/InvalidStateError|registered previously/);
    expect(await app.services.orm.em.fork().count(PasskeySchema, {})).to.be.greaterThanOrEqual(1);
    expect(problems, 'problems seen in the browser').to.deep.equal([]);
    await page.close();
  });
});
