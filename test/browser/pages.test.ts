import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { loadSpec } from '../../src/http/spec.js';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import type { CaughtMail } from '../helpers/mail-catcher.js';
import { TestOidcProvider } from '../helpers/oidc-provider.js';
import { responseProblems } from '../helpers/spec-validator.js';

/**
 * The hosted pages (GET /verify-email, /reset-password, /oauth/complete) in headless Chromium: the links of the
 * mails Pulse Auth sends open working pages when APP_URL is the server itself, and social sign-in ends on a page
 * that greets the user. Everything else goes through the API, as a client would.
 */

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const WAIT_MS = 10_000;
const PASSWORD = 'a perfectly fine passphrase';

/** The link to `path` in a mail's text (the first one). */
function linkIn(mail: CaughtMail, path: string): string {
  const match = new RegExp(`https?://[^\\s"<>]+${path}\\?token=[A-Za-z0-9_%-]+`).exec(mail.text);
  if (!match) throw new Error(`no ${path} link in mail "${mail.subject}":\n${mail.text}`);
  return match[0];
}

/** The codes finishOAuth may redirect with, as the spec's introduction lists them ("…?error=<code>` with one of …"). */
function documentedOAuthErrors(): string[] {
  const description = (loadSpec().document as unknown as { info: { description: string } }).info.description;
  const sentence = /\?error=<code>`\s+with\s+one\s+of\s+([^.]+)\./.exec(description);
  if (!sentence) throw new Error('the spec no longer lists the error codes of finishOAuth');
  return [...sentence[1].matchAll(/`([a-z-]+)`/g)].map((match) => match[1]);
}

/** Waits until the locator's text matches (and it is visible); fails with what the page shows otherwise. */
async function waitForText(page: Page, locator: Locator, pattern: RegExp | string): Promise<string> {
  const deadline = Date.now() + WAIT_MS;
  let text = '';
  for (;;) {
    text = ((await locator.count()) > 0 ? await locator.first().innerText() : '').replace(/\s+/g, ' ').trim();
    const matches = typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text);
    if (matches && (await locator.first().isVisible())) return text;
    if (Date.now() > deadline) {
      const main = await page.locator('main').innerText().catch(() => '(no main)');
      throw new Error(`waited for ${String(pattern)} in ${locator}, it says "${text}"; the page (${page.url()}) says:\n${main}`);
    }
    await page.waitForTimeout(50);
  }
}

describe('hosted pages in a real browser (headless Chromium)', function () {
  this.timeout(60_000);
  let app: TestServer;
  let idp: TestOidcProvider;
  let context: BrowserContext;
  let userDataDir: string;
  /** Per test: what went wrong in the browser that no assertion looks at (CSP violations, script errors, …). */
  let browserProblems: string[];
  let pendingChecks: Promise<void>[];
  let shot = 0;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`skipped: ${CHROMIUM} not found (apt-get install chromium)`);
      this.skip();
    }
    idp = await TestOidcProvider.listen();
    // PUBLIC_URL and APP_URL are both this server (APP_URL's default is PUBLIC_URL): the mail links open its pages.
    app = await TestServer.start({ OIDC_PROVIDERS: 'acme', ...idp.envFor('acme') }, { publicUrlIsServer: true, appUrlIsServer: true });
    idp.configure(`${app.baseUrl}/v1/auth/oauth/acme/callback`);
    mkdirSync(ARTIFACTS, { recursive: true });
    userDataDir = mkdtempSync(join(tmpdir(), 'pulse-auth-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 800, height: 700 },
    });
    // Nothing leaves 127.0.0.1. A request elsewhere is a problem when one of our pages makes it; the test
    // provider's development pages ask for web fonts, which are simply refused.
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) => {
        const request = route.request();
        const from = request.isNavigationRequest() ? request.url() : request.frame().url();
        if (!from.startsWith(`${idp.issuer}/`)) browserProblems.push(`request to ${request.url()} from ${from}`);
        return route.abort('blockedbyclient');
      },
    );
  });

  after(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await app?.stop();
    await idp?.stop();
  });

  beforeEach(async () => {
    browserProblems = [];
    pendingChecks = [];
    await context.clearCookies();
  });

  afterEach(async function () {
    for (const page of context.pages()) await page.close();
    await Promise.all(pendingChecks);
    if (this.currentTest?.state === 'passed') expect(browserProblems, 'problems seen in the browser').to.deep.equal([]);
  });

  /**
   * A new tab that records what should never happen on these pages: a script error, a CSP violation, a request
   * from one of them to another origin, an API response the spec does not allow.
   */
  async function newPage(): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (error) => browserProblems.push(`script error on ${page.url()}: ${error.message}`));
    page.on('console', (message) => {
      const where = message.location().url ?? '';
      if (where.startsWith(app.baseUrl) && /Content Security Policy|Refused to/i.test(message.text())) {
        browserProblems.push(`CSP: ${message.text()}`);
      }
    });
    page.on('request', (request) => {
      const url = request.url();
      const from = request.frame().url();
      if (from.startsWith(`${app.baseUrl}/`) && !url.startsWith(`${app.baseUrl}/`) && !request.isNavigationRequest()) {
        browserProblems.push(`request to ${url} from ${from}`);
      }
    });
    page.on('response', (response) => {
      const url = new URL(response.url());
      if (url.origin !== app.baseUrl || !url.pathname.startsWith('/v1/') || response.request().resourceType() !== 'fetch') return;
      pendingChecks.push(
        (async () => {
          const text = await response.text().catch(() => '');
          const contentType = response.headers()['content-type'] ?? null;
          const body = text && /json/.test(contentType ?? '') ? JSON.parse(text) : text || undefined;
          const problems = responseProblems(response.request().method(), url.pathname, response.status(), contentType, body);
          browserProblems.push(...problems.map((problem) => `the page got ${problem}`));
        })(),
      );
    });
    return page;
  }

  async function screenshot(page: Page, name: string) {
    shot += 1;
    await page.screenshot({ path: join(ARTIFACTS, `pages-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  }

  const statusOf = (page: Page) => page.locator('#status');
  const problemOf = (page: Page) => page.locator('#problem');

  async function register(email: string) {
    const before = app.mail.mails.length;
    const registered = await app.request('POST', '/v1/auth/register', { body: { email, password: PASSWORD } });
    expect(registered.status).to.equal(202);
    return app.mail.next(email, { subject: /Confirm/, after: before });
  }

  describe('verify-email', () => {
    it('confirms the address only when the person enters the sign-up password and presses the button', async () => {
      const email = uniqueEmail('browser-verify');
      const link = linkIn(await register(email), '/verify-email');
      expect(link.startsWith(`${app.baseUrl}/verify-email?token=`), link).to.equal(true);
      const early = await app.request('POST', '/v1/auth/login', { body: { email, password: PASSWORD } });
      expect(early.status, 'no account before the link is used').to.equal(401);

      const page = await newPage();
      const calls: string[] = [];
      page.on('request', (request) => {
        if (request.url().includes('/v1/')) calls.push(request.url());
      });
      await page.goto(link);
      const password = page.getByLabel('Your password');
      await password.waitFor({ state: 'visible' });
      expect(page.url(), 'the token is gone from the address bar').to.equal(`${app.baseUrl}/verify-email`);
      await page.waitForTimeout(300);
      expect(calls, 'opening the page (as a mail scanner does) calls nothing').to.deep.equal([]);
      await screenshot(page, 'verify-email-form');

      // A password that is not the sign-up's: refused next to the field, and the link still works.
      await password.fill('not the password I chose');
      let answered = page.waitForResponse((response) => response.url().endsWith('/v1/auth/verify-email'));
      await page.getByRole('button', { name: 'Confirm my email address' }).click();
      expect((await answered).status()).to.equal(403);
      await waitForText(page, problemOf(page), 'The password does not match this sign-up');
      expect(await page.locator('#password-error').innerText()).to.contain('not the password of this registration');
      expect(await password.getAttribute('aria-invalid')).to.equal('true');
      await screenshot(page, 'verify-email-wrong-password');

      await password.fill(PASSWORD);
      answered = page.waitForResponse((response) => response.url().endsWith('/v1/auth/verify-email'));
      await page.getByRole('button', { name: 'Confirm my email address' }).click();
      expect((await answered).status()).to.equal(200);
      expect(await waitForText(page, statusOf(page), 'Your email is confirmed; you can sign in now.')).to.contain(email);
      expect(await problemOf(page).innerText()).to.equal('');
      expect(await page.locator('#verify-form').isHidden()).to.equal(true);
      await screenshot(page, 'verify-email-confirmed');

      const session = await app.login(email, PASSWORD);
      const me = await app.request('GET', '/v1/me', { token: session.accessToken });
      expect(me.body).to.include({ email, emailVerified: true });
    });

    it('pre-account hijack by a link scanner: loading the link and its script makes no account', async () => {
      const email = uniqueEmail('browser-scanner');
      const link = linkIn(await register(email), '/verify-email');
      // A scanner fetches the link, and one that runs scripts loads the page too, but presses nothing.
      expect((await fetch(link)).status).to.equal(200);
      const page = await newPage();
      await page.goto(link);
      await page.getByLabel('Your password').waitFor({ state: 'visible' });
      await page.waitForTimeout(500);
      await page.close();
      expect((await app.request('POST', '/v1/auth/login', { body: { email, password: PASSWORD } })).status).to.equal(401);
      // The link is unspent: the owner can still confirm with it.
      const token = new URL(link).searchParams.get('token')!;
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token, password: PASSWORD } })).status).to.equal(200);
    });

    it("shows the problem's title and detail for a used link and for a garbage token", async () => {
      const email = uniqueEmail('browser-verify-twice');
      const link = linkIn(await register(email), '/verify-email');
      const token = new URL(link).searchParams.get('token')!;
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token, password: PASSWORD } })).status).to.equal(200);

      for (const [name, url, sent] of [
        ['used', link, token],
        ['garbage', `${app.baseUrl}/verify-email?token=not-a-real-token-${Date.now()}`, `not-a-real-token-`],
      ] as const) {
        const page = await newPage();
        await page.goto(url);
        await page.getByLabel('Your password').fill(PASSWORD);
        const answered = page.waitForResponse((response) => response.url().endsWith('/v1/auth/verify-email'));
        await page.getByRole('button', { name: 'Confirm my email address' }).click();
        const response = await answered;
        expect(response.request().postDataJSON().token, name).to.contain(sent);
        const problem = await response.json();
        expect(problem.code, name).to.equal('invalid-verification-token');
        const shown = await waitForText(page, problemOf(page), problem.title);
        expect(shown, name).to.contain(problem.detail);
        expect(await statusOf(page).innerText(), name).not.to.match(/confirmed/);
        await screenshot(page, `verify-email-${name}-token`);
      }
    });

    it('says the link is incomplete when it has no token, and calls nothing', async () => {
      const page = await newPage();
      const calls: string[] = [];
      page.on('request', (request) => {
        if (request.url().includes('/v1/')) calls.push(request.url());
      });
      await page.goto(`${app.baseUrl}/verify-email`);
      await waitForText(page, problemOf(page), 'This link is incomplete');
      expect(calls).to.deep.equal([]);
    });
  });

  describe('reset-password', () => {
    it('sets a new password from the link in the mail: a weak one is refused with the reason, a good one works', async () => {
      const email = uniqueEmail('browser-reset');
      const link = linkIn(await register(email), '/verify-email');
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token: new URL(link).searchParams.get('token'), password: PASSWORD } })).status).to.equal(200);
      const oldSession = await app.login(email, PASSWORD);

      const before = app.mail.mails.length;
      expect((await app.request('POST', '/v1/auth/password/forgot', { body: { email } })).status).to.equal(202);
      const resetLink = linkIn(await app.mail.next(email, { subject: /Reset/, after: before }), '/reset-password');
      expect(resetLink.startsWith(`${app.baseUrl}/reset-password?token=`), resetLink).to.equal(true);

      const page = await newPage();
      await page.goto(resetLink);
      const password = page.getByLabel('New password', { exact: true });
      const confirm = page.getByLabel('Confirm the new password');
      await password.waitFor({ state: 'visible' });
      expect(page.url(), 'the token is gone from the address bar').to.equal(`${app.baseUrl}/reset-password`);
      const policy = await page.locator('#policy').innerText();
      expect(policy).to.match(/\b8\b/).and.match(/\b256\b/).and.match(/common/i);
      expect(await password.getAttribute('aria-describedby')).to.contain('policy');
      expect(await page.evaluate('document.activeElement && document.activeElement.id')).to.equal('password');
      await screenshot(page, 'reset-password-form');

      // Two different passwords: caught on the page, nothing is sent.
      const sent: string[] = [];
      page.on('request', (request) => {
        if (request.url().endsWith('/v1/auth/password/reset')) sent.push(request.postData() ?? '');
      });
      await password.fill('first of two passphrases');
      await confirm.fill('second of two passphrases');
      await page.getByRole('button', { name: 'Set the new password' }).click();
      await waitForText(page, page.locator('#confirm-error'), 'not the same');
      expect(await confirm.getAttribute('aria-invalid')).to.equal('true');
      expect(sent).to.deep.equal([]);

      // A common password: the server refuses it, and the page shows why, next to the field.
      await password.fill('password123');
      await confirm.fill('password123');
      const refused = page.waitForResponse((response) => response.url().endsWith('/v1/auth/password/reset'));
      await page.getByRole('button', { name: 'Set the new password' }).click();
      const weak = await (await refused).json();
      expect(weak.code).to.equal('weak-password');
      expect(weak.errors, 'the 422 lists the field').to.have.length.of.at.least(1);
      await waitForText(page, problemOf(page), weak.title);
      for (const error of weak.errors) await waitForText(page, page.locator('#password-error'), error.detail);
      expect(await password.getAttribute('aria-invalid')).to.equal('true');
      expect(await page.locator('#confirm-error').innerText()).to.equal('');
      expect(await page.evaluate('document.activeElement && document.activeElement.id'), 'focus back on the field').to.equal('password');
      await screenshot(page, 'reset-password-weak');
      expect((await app.request('POST', '/v1/auth/login', { body: { email, password: 'password123' } })).status).to.equal(401);

      // A good one, submitted from the keyboard.
      const newPassword = `a brand new passphrase ${Date.now()}`;
      await password.fill(newPassword);
      await confirm.fill(newPassword);
      const accepted = page.waitForResponse((response) => response.url().endsWith('/v1/auth/password/reset'));
      await confirm.press('Enter');
      expect((await accepted).status()).to.equal(204);
      await waitForText(page, statusOf(page), 'Your new password is set.');
      expect(await page.locator('#reset-form').isVisible()).to.equal(false);
      expect(await problemOf(page).innerText()).to.equal('');
      expect(sent.map((body) => JSON.parse(body).password)).to.deep.equal(['password123', newPassword]);
      await screenshot(page, 'reset-password-done');

      // Through the API: the new password signs in, the old one does not, the old session has ended.
      expect((await app.request('POST', '/v1/auth/login', { body: { email, password: PASSWORD } })).status).to.equal(401);
      const session = await app.login(email, newPassword);
      expect((await app.request('GET', '/v1/me', { token: session.accessToken })).body.email).to.equal(email);
      expect((await app.request('GET', '/v1/me', { token: oldSession.accessToken })).status).to.equal(401);

      // The link again: used, the page says so and offers no form.
      const again = await newPage();
      const answered = again.waitForResponse((response) => response.url().endsWith('/v1/auth/password/reset'));
      await again.goto(resetLink);
      await again.getByLabel('New password', { exact: true }).fill('yet another passphrase');
      await again.getByLabel('Confirm the new password').fill('yet another passphrase');
      await again.getByRole('button', { name: 'Set the new password' }).click();
      const used = await (await answered).json();
      expect(used.code).to.equal('invalid-reset-token');
      const shown = await waitForText(again, problemOf(again), used.title);
      expect(shown).to.contain(used.detail);
      expect(await again.locator('#reset-form').isVisible()).to.equal(false);
      await screenshot(again, 'reset-password-used-link');
      expect((await app.request('POST', '/v1/auth/login', { body: { email, password: 'yet another passphrase' } })).status).to.equal(401);
    });

    it("shows the problem's text for a garbage token", async () => {
      const page = await newPage();
      await page.goto(`${app.baseUrl}/reset-password?token=garbage-${Date.now()}`);
      await page.getByLabel('New password', { exact: true }).fill('a garbage-token passphrase');
      await page.getByLabel('Confirm the new password').fill('a garbage-token passphrase');
      const answered = page.waitForResponse((response) => response.url().endsWith('/v1/auth/password/reset'));
      await page.getByRole('button', { name: 'Set the new password' }).click();
      const problem = await (await answered).json();
      expect(problem.code).to.equal('invalid-reset-token');
      expect(await waitForText(page, problemOf(page), problem.title)).to.contain(problem.detail);
      await screenshot(page, 'reset-password-garbage-token');
    });
  });

  describe('oauth/complete', () => {
    let providerAccounts = 0;
    /** Signs in at the test provider in the browser, from startOAuth to the page finishOAuth redirects to. */
    async function socialSignIn(page: Page, claims: { email: string; name?: string }) {
      const login = `acme-browser-${process.pid}-${++providerAccounts}`;
      idp.accounts.set(login, { email_verified: true, ...claims });
      await page.goto(`${app.baseUrl}/v1/auth/oauth/acme/authorize`);
      await page.locator('input[name="login"]').fill(login);
      await page.locator('input[name="password"]').fill('any');
      await page.locator('button[type="submit"]').click();
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL((url) => url.origin === app.baseUrl && url.pathname === '/oauth/complete');
    }

    it('finishes a social sign-in: refresh with the cookie, read the profile, greet the user', async () => {
      const email = uniqueEmail('browser-social');
      const page = await newPage();
      const refreshed = page.waitForResponse((response) => response.url().endsWith('/v1/auth/refresh'));
      const me = page.waitForResponse((response) => response.url().endsWith('/v1/me'));
      await socialSignIn(page, { email, name: 'Grace Hopper' });
      expect(new URL(page.url()).searchParams.get('provider')).to.equal('acme');
      const refresh = await refreshed;
      expect(refresh.status()).to.equal(200);
      expect(refresh.request().postDataJSON()).to.deep.equal({});
      expect(await refresh.request().headerValue('cookie')).to.match(/pulse_auth_refresh=/);
      const profile = await me;
      expect(profile.status()).to.equal(200);
      expect(await profile.request().headerValue('authorization')).to.equal(`Bearer ${(await refresh.json()).accessToken}`);
      expect(await waitForText(page, statusOf(page), `You are signed in as ${email}.`)).to.be.a('string');
      expect(await page.locator('h1').innerText()).to.contain('Grace Hopper');
      await screenshot(page, 'oauth-complete-signed-in');
    });

    it('asks for the code when the account has a second factor, and greets once it is right', async () => {
      // A password account with email codes on; the provider vouches for its email, so the identity joins it.
      const email = uniqueEmail('browser-mfa');
      const link = linkIn(await register(email), '/verify-email');
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token: new URL(link).searchParams.get('token'), password: PASSWORD } })).status).to.equal(200);
      const { accessToken } = await app.login(email, PASSWORD);
      expect((await app.request('PUT', '/v1/me/mfa/email', { token: accessToken, body: { password: PASSWORD } })).body.emailOtpEnabled).to.equal(true);

      const page = await newPage();
      const before = app.mail.mails.length;
      await socialSignIn(page, { email });
      const outcome = new URL(page.url()).searchParams;
      expect(outcome.get('methods')).to.equal('email');
      const challengeId = outcome.get('mfaChallenge');
      const code = page.getByLabel('Code');
      await code.waitFor({ state: 'visible' });
      expect(await page.locator('#mfa-hint').innerText()).to.match(/mailed/);
      await screenshot(page, 'oauth-complete-mfa-form');

      const mailed = /\b(\d{6})\b/.exec((await app.mail.next(email, { subject: /sign-in code/, after: before })).text)![1];
      const wrong = mailed === '000000' ? '111111' : '000000';
      const refused = page.waitForResponse((response) => response.url().endsWith('/v1/auth/mfa/verify'));
      await code.fill(wrong);
      await code.press('Enter');
      const problem = await (await refused).json();
      expect(problem.code).to.equal('invalid-mfa-code');
      await waitForText(page, problemOf(page), problem.title);
      expect(await code.isVisible()).to.equal(true);
      await screenshot(page, 'oauth-complete-mfa-wrong-code');

      const accepted = page.waitForResponse((response) => response.url().endsWith('/v1/auth/mfa/verify'));
      await code.fill(mailed);
      await page.getByRole('button', { name: 'Continue' }).click();
      const verified = await accepted;
      expect(verified.status()).to.equal(200);
      expect(verified.request().postDataJSON()).to.deep.equal({ challengeId, code: mailed });
      await waitForText(page, statusOf(page), `You are signed in as ${email}.`);
      expect(await problemOf(page).innerText()).to.equal('');
      expect(await code.isVisible()).to.equal(false);
      expect((await context.cookies(`${app.baseUrl}/v1/auth/refresh`)).map((cookie) => cookie.name)).to.include('pulse_auth_refresh');
      await screenshot(page, 'oauth-complete-mfa-signed-in');
    });

    it('says in a sentence what went wrong, for each error code the spec documents', async () => {
      const codes = documentedOAuthErrors();
      expect(codes).to.include.members(['access-denied', 'invalid-state', 'account-disabled']);
      const page = await newPage();
      await page.goto(`${app.baseUrl}/oauth/complete?error=some-future-code`);
      const fallback = await waitForText(page, problemOf(page), 'some-future-code');
      const sentences = new Set<string>();
      for (const code of codes) {
        await page.goto(`${app.baseUrl}/oauth/complete?error=${code}`);
        const shown = await waitForText(page, problemOf(page), code);
        expect(shown, code).not.to.equal(fallback.replace('some-future-code', code));
        expect(shown.replace(code, '').length, code).to.be.greaterThan(40);
        sentences.add(shown.replace(code, ''));
        expect(await statusOf(page).innerText(), code).to.equal('');
        if (code === 'access-denied') await screenshot(page, 'oauth-complete-error');
      }
      expect(sentences.size, 'one sentence per code').to.equal(codes.length);

      // A sign-in cancelled at the provider ends here too, with the sentence for access-denied.
      await page.goto(`${app.baseUrl}/v1/auth/oauth/acme/authorize`);
      const interaction = new URL(page.url());
      expect(interaction.origin).to.equal(idp.issuer);
      await page.goto(`${interaction.origin}${interaction.pathname}/abort`);
      await page.waitForURL((url) => url.origin === app.baseUrl && url.pathname === '/oauth/complete');
      expect(new URL(page.url()).searchParams.get('error')).to.equal('access-denied');
      await waitForText(page, problemOf(page), 'cancelled');
    });
  });
  describe('accept-invitation', () => {
    async function verifiedAccount(prefix: string) {
      const email = uniqueEmail(prefix);
      const link = linkIn(await register(email), '/verify-email');
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token: new URL(link).searchParams.get('token'), password: PASSWORD } })).status).to.equal(200);
      return email;
    }

    async function invitationLink(invitee: string) {
      const owner = await verifiedAccount('browser-org-owner');
      const { accessToken } = await app.login(owner, PASSWORD);
      const org = await app.request('POST', '/v1/orgs', { token: accessToken, body: { name: 'Browser Org' } });
      expect(org.status, org.text).to.equal(201);
      const before = app.mail.mails.length;
      expect((await app.request('POST', `/v1/orgs/${org.body.id}/invitations`, { token: accessToken, body: { email: invitee, role: 'admin' } })).status).to.equal(201);
      return { link: linkIn(await app.mail.next(invitee, { subject: /Join Browser Org/, after: before }), '/accept-invitation'), orgId: org.body.id as string, accessToken };
    }

    it('asks a signed-out person to sign in, then accepts only on the button press; the wrong account is told so', async () => {
      const invitee = await verifiedAccount('browser-invitee');
      const stranger = await verifiedAccount('browser-stranger');
      const { link, orgId, accessToken } = await invitationLink(invitee);
      expect(link.startsWith(`${app.baseUrl}/accept-invitation?token=`), link).to.equal(true);
      const page = await newPage();
      await page.goto(link);
      await page.getByLabel('Email').waitFor({ state: 'visible' });
      expect(page.url(), 'the token is gone from the address bar').to.equal(`${app.baseUrl}/accept-invitation`);
      expect(await page.locator('#why').innerText()).to.match(/No account yet\? Create one/);
      await screenshot(page, 'accept-invitation-sign-in');

      // The wrong account signs in and presses Accept: refused, and asked to sign in with the invited one.
      await page.getByLabel('Email').fill(stranger);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await waitForText(page, page.locator('#accept-hint'), `You are signed in as ${stranger}.`);
      const refused = page.waitForResponse((response) => response.url().endsWith('/v1/invitations/accept'));
      await page.getByRole('button', { name: 'Accept the invitation' }).click();
      expect((await (await refused).json()).code).to.equal('invitation-email-mismatch');
      await waitForText(page, problemOf(page), 'The invitation is for another email');
      await screenshot(page, 'accept-invitation-wrong-account');

      await page.getByLabel('Email').fill(invitee);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await waitForText(page, page.locator('#accept-hint'), `You are signed in as ${invitee}.`);
      const members = async () => (await app.request('GET', `/v1/orgs/${orgId}/members`, { token: accessToken })).body.items.length;
      expect(await members(), 'nothing joined before the press').to.equal(1);
      await page.getByRole('button', { name: 'Accept the invitation' }).click();
      await waitForText(page, statusOf(page), 'You joined Browser Org as admin.');
      expect(await members()).to.equal(2);
      await screenshot(page, 'accept-invitation-joined');
    });

    it('a person signed in already (the refresh cookie) sees the button at once', async () => {
      const invitee = await verifiedAccount('browser-invitee-cookie');
      const { link } = await invitationLink(invitee);
      const page = await newPage();
      await page.goto(`${app.baseUrl}/accept-invitation?token=none`);
      // Sign in through the page once (cookie delivery), then open the real link in a new tab.
      await page.getByLabel('Email').fill(invitee);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await waitForText(page, page.locator('#accept-hint'), `You are signed in as ${invitee}.`);
      const again = await newPage();
      await again.goto(link);
      await waitForText(again, again.locator('#accept-hint'), `You are signed in as ${invitee}.`);
      await again.getByRole('button', { name: 'Accept the invitation' }).click();
      await waitForText(again, statusOf(again), 'You joined Browser Org as admin.');
    });
  });

  describe('sign-in (passwordless, by email)', () => {
    async function signInMail(email: string) {
      const before = app.mail.mails.length;
      expect((await app.request('POST', '/v1/auth/email-sign-in', { body: { email } })).status).to.equal(202);
      return app.mail.next(email, { subject: /Sign in to your account/, after: before });
    }

    async function account(prefix: string) {
      const email = uniqueEmail(prefix);
      const link = linkIn(await register(email), '/verify-email');
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token: new URL(link).searchParams.get('token'), password: PASSWORD } })).status).to.equal(200);
      return email;
    }

    it('a link scanner (a plain GET, then a page load without a click) leaves the token usable', async () => {
      const email = await account('browser-sign-in-scanner');
      const link = linkIn(await signInMail(email), '/sign-in');
      expect(link.startsWith(`${app.baseUrl}/sign-in?token=`), link).to.equal(true);
      expect((await fetch(link)).status).to.equal(200);
      const page = await newPage();
      const calls: string[] = [];
      page.on('request', (request) => {
        if (request.url().includes('/v1/')) calls.push(request.url());
      });
      await page.goto(link);
      await page.getByRole('button', { name: 'Sign in' }).waitFor({ state: 'visible' });
      expect(page.url(), 'the token is gone from the address bar').to.equal(`${app.baseUrl}/sign-in`);
      await page.waitForTimeout(500);
      expect(calls, 'opening the page (as a mail scanner does) calls nothing').to.deep.equal([]);
      await screenshot(page, 'sign-in-button');
      await page.close();
      // The token is unspent: it still signs in.
      const token = new URL(link).searchParams.get('token')!;
      const signedIn = await app.request('POST', '/v1/auth/email-sign-in/verify', { body: { token, refreshTokenDelivery: 'body' } });
      expect(signedIn.status, signedIn.text).to.equal(200);
    });

    it('pressing "Sign in" spends the token, sets the refresh cookie and greets the user; the link then shows the problem', async () => {
      const email = await account('browser-sign-in');
      const link = linkIn(await signInMail(email), '/sign-in');
      const page = await newPage();
      await page.goto(link);
      const answered = page.waitForResponse((response) => response.url().endsWith('/v1/auth/email-sign-in/verify'));
      await page.getByRole('button', { name: 'Sign in' }).click();
      expect((await answered).status()).to.equal(200);
      await waitForText(page, statusOf(page), `You are signed in as ${email}.`);
      expect((await context.cookies(`${app.baseUrl}/v1/auth/refresh`)).map((cookie) => cookie.name)).to.include('pulse_auth_refresh');
      await screenshot(page, 'sign-in-signed-in');

      const again = await newPage();
      await again.goto(link);
      const refused = again.waitForResponse((response) => response.url().endsWith('/v1/auth/email-sign-in/verify'));
      await again.getByRole('button', { name: 'Sign in' }).click();
      const problem = await (await refused).json();
      expect(problem.code).to.equal('invalid-email-sign-in');
      await waitForText(again, problemOf(again), problem.title);
      await screenshot(again, 'sign-in-used-link');
    });

    it('asks for the second factor when the account has one, and greets once it is right', async () => {
      const email = await account('browser-sign-in-mfa');
      const { accessToken } = await app.login(email, PASSWORD);
      expect((await app.request('PUT', '/v1/me/mfa/email', { token: accessToken, body: { password: PASSWORD } })).body.emailOtpEnabled).to.equal(true);
      const link = linkIn(await signInMail(email), '/sign-in');
      const page = await newPage();
      await page.goto(link);
      const before = app.mail.mails.length;
      await page.getByRole('button', { name: 'Sign in' }).click();
      const code = page.getByLabel('Code');
      await code.waitFor({ state: 'visible' });
      expect(await page.locator('#mfa-hint').innerText()).to.match(/mailed/);
      const mailed = /\b(\d{6})\b/.exec((await app.mail.next(email, { subject: /Your sign-in code/, after: before })).text)![1];
      const accepted = page.waitForResponse((response) => response.url().endsWith('/v1/auth/mfa/verify'));
      await code.fill(mailed);
      await page.getByRole('button', { name: 'Continue' }).click();
      expect((await accepted).status()).to.equal(200);
      await waitForText(page, statusOf(page), `You are signed in as ${email}.`);
      expect((await context.cookies(`${app.baseUrl}/v1/auth/refresh`)).map((cookie) => cookie.name)).to.include('pulse_auth_refresh');
      await screenshot(page, 'sign-in-mfa-signed-in');
    });
  });
});
