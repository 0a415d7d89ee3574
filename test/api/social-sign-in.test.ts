import { expect } from 'chai';
import { generate } from 'otplib';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { Browser, TestOidcProvider, type FlowResult, type ProviderAccount } from '../helpers/oidc-provider.js';
import { failWith } from '../helpers/assertions.js';

const LANDING = 'http://app.test/oauth/complete';
const ADMIN_EMAIL = 'oauth-admin@example.com';

describe('social sign-in through a real OpenID provider (listProviders, startOAuth, finishOAuth, identities)', () => {
  let idp: TestOidcProvider;
  let app: TestServer;

  before(async () => {
    idp = await TestOidcProvider.listen();
    app = await TestServer.start(
      {
        OIDC_PROVIDERS: 'acme,down',
        ...idp.envFor('acme'),
        // A provider that does not answer: nothing listens on port 1.
        OIDC_DOWN_ISSUER: 'http://127.0.0.1:1',
        OIDC_DOWN_CLIENT_ID: 'down-client',
        OIDC_DOWN_CLIENT_SECRET: 'down-secret',
        ADMIN_EMAILS: ADMIN_EMAIL,
      },
      { publicUrlIsServer: true },
    );
    idp.configure(`${app.baseUrl}/v1/auth/oauth/acme/callback`);
  });
  after(async () => {
    await app?.stop();
    await idp?.stop();
  });

  const providerUser = (claims: ProviderAccount) => idp.newAccount(claims, 'acme-user');

  const newBrowser = () => new Browser(app.baseUrl);

  /** Where the flow landed: the app's page, with exactly this outcome in the query. */
  function expectLanding(result: FlowResult, outcome: Record<string, string>) {
    expect(result.location.split('?')[0], result.visited.join('\n')).to.equal(LANDING);
    expect(Object.fromEntries(result.outcome)).to.deep.equal(outcome);
  }

  /** What the app does on the landing page: trade the refresh cookie for an access token. */
  async function tokensFor(refreshCookie: string | undefined) {
    expect(refreshCookie, 'a refresh cookie was set').to.be.a('string');
    const reply = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: refreshCookie! } });
    expect(reply.status, reply.text).to.equal(200);
    return reply.body as { accessToken: string; user: { id: string; email: string }; session: { id: string } };
  }

  async function identitiesOf(accessToken: string) {
    const reply = await app.request('GET', '/v1/me/identities', { token: accessToken });
    expect(reply.status).to.equal(200);
    return reply.body.items as Array<{ provider: string; email: string | null; createdAt: string; lastUsedAt: string }>;
  }

  /** A new account made through the provider, signed in. */
  async function providerAccount(name = 'Grace Hopper') {
    const email = uniqueEmail('social');
    const login = providerUser({ email, email_verified: true, name });
    const result = await newBrowser().signIn('acme', { login });
    expectLanding(result, { provider: 'acme' });
    return { email, login, ...(await tokensFor(result.refreshCookie)) };
  }

  describe('listing providers', () => {
    it('lists the configured provider with the URL that starts it, which redirects to the provider with PKCE, state and nonce', async () => {
      const list = await app.request('GET', '/v1/auth/providers');
      expect(list.status).to.equal(200);
      expect(list.body.items).to.deep.include({ name: 'acme', displayName: 'Acme', authorizeUrl: '/v1/auth/oauth/acme/authorize' });
      expect(list.body.items.map((p: { name: string }) => p.name)).to.deep.equal(['acme', 'down']);

      const started = await app.request('GET', list.body.items[0].authorizeUrl);
      expect(started.status).to.equal(302);
      const location = new URL(started.headers.get('location')!);
      expect(location.origin).to.equal(idp.issuer);
      expect(Object.fromEntries(location.searchParams)).to.include({
        client_id: idp.clientId,
        redirect_uri: `${app.baseUrl}/v1/auth/oauth/acme/callback`,
        response_type: 'code',
        code_challenge_method: 'S256',
      });
      expect(location.searchParams.get('scope')!.split(' ')).to.have.members(['openid', 'email', 'profile']);
      for (const param of ['state', 'nonce', 'code_challenge']) expect(location.searchParams.get(param), param).to.have.length.of.at.least(22);
      const cookie = started.headers.getSetCookie().find((c) => c.startsWith('pulse_auth_oauth='));
      expect(cookie).to.match(/; HttpOnly/i).and.match(/; SameSite=Lax/i).and.match(/; Path=\/v1\/auth\/oauth(;|$)/);
    });

    it('answers 404 with a problem for a provider that is not configured', async () => {
      for (const path of ['/v1/auth/oauth/nope/authorize', '/v1/auth/oauth/nope/callback?code=x&state=y']) {
        const reply = await app.request('GET', path);
        failWith(reply, 404, 'not-found', path);
        expect(reply.headers.get('location')).to.equal(null);
      }
    });
  });

  describe('signing up and signing in', () => {
    it('signs up a new person whose provider vouches for the email: refresh cookie, profile from the claims, one identity', async () => {
      const email = uniqueEmail('newcomer');
      const login = providerUser({ email, email_verified: true, name: 'Ada Lovelace' });
      const result = await newBrowser().signIn('acme', { login });

      expectLanding(result, { provider: 'acme' });
      expect(result.visited.some((hop) => hop.startsWith(`GET ${idp.issuer}/`)), 'went through the provider').to.equal(true);
      const refresh = result.pulseSetCookies.find((c) => c.startsWith('pulse_auth_refresh='));
      expect(refresh).to.match(/; HttpOnly/i).and.match(/; Path=\/v1\/auth(;|$)/);
      // The browser-binding cookie is cleared once used.
      expect(result.pulseSetCookies.filter((c) => c.startsWith('pulse_auth_oauth=')).pop()).to.match(/Max-Age=0/i);

      const tokens = await tokensFor(result.refreshCookie);
      const me = await app.request('GET', '/v1/me', { token: tokens.accessToken });
      expect(me.status).to.equal(200);
      expect(me.body).to.include({ id: tokens.user.id, email, name: 'Ada Lovelace', emailVerified: true, role: 'user' });
      const identities = await identitiesOf(tokens.accessToken);
      expect(identities).to.have.length(1);
      expect(identities[0]).to.include({ provider: 'acme', email });

      // Neither the code and state of the callback nor the refresh token reach the logs.
      const callback = new URL(result.visited.find((hop) => hop.includes('/v1/auth/oauth/acme/callback?'))!.slice('GET '.length));
      const secrets = [callback.searchParams.get('code')!, callback.searchParams.get('state')!, result.refreshCookie!.split('=')[1]];
      for (const secret of secrets) expect(secret).to.have.length.of.at.least(20);
      for (const secret of secrets) expect(app.logText()).not.to.contain(secret);
    });

    it('signs the same provider account into the same user the next time, with a new session', async () => {
      const first = await providerAccount();
      const again = await newBrowser().signIn('acme', { login: first.login });
      expectLanding(again, { provider: 'acme' });
      const second = await tokensFor(again.refreshCookie);

      expect(second.user.id).to.equal(first.user.id);
      expect(second.session.id).not.to.equal(first.session.id);
      const sessions = await app.request('GET', '/v1/me/sessions', { token: second.accessToken });
      expect(sessions.body.items.map((s: { id: string }) => s.id)).to.include.members([first.session.id, second.session.id]);
      expect(await identitiesOf(second.accessToken)).to.have.length(1);
    });

    it('joins an existing verified local account with the same email, and the local password still signs in', async () => {
      const local = await app.createUser({ name: 'Local Person' });
      const login = providerUser({ email: local.email.toUpperCase(), email_verified: true, name: 'Someone Else' });
      const result = await newBrowser().signIn('acme', { login });

      expectLanding(result, { provider: 'acme', linked: 'true' });
      const tokens = await tokensFor(result.refreshCookie);
      expect(tokens.user.id).to.equal(local.user.id);
      const identities = await identitiesOf(tokens.accessToken);
      expect(identities.map((i) => i.provider)).to.deep.equal(['acme']);
      // The profile is the account's own; the provider's name does not overwrite it.
      expect((await app.request('GET', '/v1/me', { token: tokens.accessToken })).body.name).to.equal('Local Person');

      const password = await app.login(local.email, local.password);
      expect(password.user.id).to.equal(local.user.id);
    });
  });

  describe('account pre-hijacking', () => {
    it('does not let a registration waiting for its link capture the address: the provider sign-up owns it and the link dies', async () => {
      const victim = uniqueEmail('victim');
      const attackerPassword = 'the attacker chose this one';
      const before = app.mail.mails.length;
      const registered = await app.request('POST', '/v1/auth/register', { body: { email: victim, password: attackerPassword } });
      expect(registered.status).to.equal(202);
      const link = tokenFrom(await app.mail.next(victim, { subject: /Confirm/, after: before }));

      const login = providerUser({ email: victim, email_verified: true, name: 'Victim' });
      const result = await newBrowser().signIn('acme', { login });
      expectLanding(result, { provider: 'acme' }); // a new account, not a link to anything the attacker made
      const owner = await tokensFor(result.refreshCookie);
      expect(owner.user.email).to.equal(victim);

      const verify = await app.request('POST', '/v1/auth/verify-email', { body: { token: link, password: attackerPassword } });
      failWith(verify, 400, 'invalid-verification-token');
      const attackerLogin = await app.request('POST', '/v1/auth/login', { body: { email: victim, password: attackerPassword } });
      failWith(attackerLogin, 401, 'invalid-credentials');
      // Nothing of the attacker's registration is left: asking for a fresh link mails nothing.
      const mailsBefore = app.mail.count(victim);
      expect((await app.request('POST', '/v1/auth/resend-verification', { body: { email: victim } })).status).to.equal(202);
      await app.services.mailer.idle();
      expect(app.mail.count(victim)).to.equal(mailsBefore);

      // The account is still the provider's, unchanged.
      const me = await app.request('GET', '/v1/me', { token: owner.accessToken });
      expect(me.body).to.include({ id: owner.user.id, name: 'Victim' });
      const again = await newBrowser().signIn('acme', { login });
      expect((await tokensFor(again.refreshCookie)).user.id).to.equal(owner.user.id);
    });

    it('makes no account from an email the provider has not verified', async () => {
      const email = uniqueEmail('unverified');
      const login = providerUser({ email, email_verified: false, name: 'Not Sure' });
      const refused = await newBrowser().signIn('acme', { login });
      expectLanding(refused, { error: 'email-not-verified' });
      expect(refused.refreshCookie).to.equal(undefined);

      // The address is still free: registering it mails a verification link, not an "already registered" notice.
      const before = app.mail.mails.length;
      expect((await app.request('POST', '/v1/auth/register', { body: { email, password: 'a perfectly fine passphrase' } })).status).to.equal(202);
      const mail = await app.mail.next(email, { after: before });
      expect(() => tokenFrom(mail), mail.subject).not.to.throw();
    });

    it('refuses to join a local account when the provider does not say the email is verified', async () => {
      const local = await app.createUser();
      const login = providerUser({ email: local.email, email_verified: false, name: 'Unverified' });
      const refused = await newBrowser().signIn('acme', { login });

      expectLanding(refused, { error: 'email-not-verified' });
      expect(refused.refreshCookie).to.equal(undefined);
      const { accessToken } = await app.login(local.email, local.password);
      expect(await identitiesOf(accessToken)).to.deep.equal([]);

      // The same provider account, once its email is verified there, does join.
      idp.accounts.set(login, { email: local.email, email_verified: true });
      const joined = await newBrowser().signIn('acme', { login });
      expectLanding(joined, { provider: 'acme', linked: 'true' });
      expect((await tokensFor(joined.refreshCookie)).user.id).to.equal(local.user.id);
    });
  });

  describe('state, replay and browser binding', () => {
    /** A sign-in stopped where the provider sends the browser back, with the browser that started it. */
    async function pendingCallback() {
      const login = providerUser({ email: uniqueEmail('state'), email_verified: true });
      const browser = newBrowser();
      const stopped = await browser.signIn('acme', { login, stopAtCallback: true });
      const callbackUrl = new URL(stopped.location);
      expect(callbackUrl.origin + callbackUrl.pathname).to.equal(`${app.baseUrl}/v1/auth/oauth/acme/callback`);
      expect(callbackUrl.searchParams.get('code')).to.be.a('string');
      const browserCookie = browser.cookie(callbackUrl.href, 'pulse_auth_oauth');
      expect(browserCookie, 'the browser holds the pulse_auth_oauth cookie for the callback').to.be.a('string');
      return { browser, callbackUrl, browserCookie: browserCookie! };
    }

    it('refuses a replayed callback (same code and state, same browser cookie) the second time', async () => {
      const { browser, callbackUrl, browserCookie } = await pendingCallback();
      const first = await browser.follow(callbackUrl.href);
      expectLanding(first, { provider: 'acme' });
      await tokensFor(first.refreshCookie);

      // The first answer cleared the cookie; a replay that still has it must fail on the spent state.
      browser.store(callbackUrl.href, `pulse_auth_oauth=${browserCookie}; Path=/v1/auth/oauth`);
      const replay = await browser.follow(callbackUrl.href);
      expectLanding(replay, { error: 'invalid-state' });
      expect(replay.refreshCookie).to.equal(undefined);
    });

    it('refuses a tampered state, and the genuine callback still works afterwards', async () => {
      const { browser, callbackUrl, browserCookie } = await pendingCallback();
      const tampered = new URL(callbackUrl);
      const state = tampered.searchParams.get('state')!;
      tampered.searchParams.set('state', (state[0] === 'A' ? 'B' : 'A') + state.slice(1));
      const refused = await browser.follow(tampered.href);
      expectLanding(refused, { error: 'invalid-state' });
      expect(refused.refreshCookie).to.equal(undefined);

      browser.store(callbackUrl.href, `pulse_auth_oauth=${browserCookie}; Path=/v1/auth/oauth`);
      expectLanding(await browser.follow(callbackUrl.href), { provider: 'acme' });
    });

    it('refuses a callback that comes back after the state has expired (10 minutes)', async () => {
      const { browser, callbackUrl } = await pendingCallback();
      app.clock.advance(601);
      const late = await browser.follow(callbackUrl.href);
      expectLanding(late, { error: 'invalid-state' });
      expect(late.refreshCookie).to.equal(undefined);
    });

    it('refuses a callback that comes back under another provider\'s name', async () => {
      const { browser, callbackUrl } = await pendingCallback();
      const swapped = new URL(callbackUrl.href.replace('/oauth/acme/callback', '/oauth/down/callback'));
      expect(browser.cookie(swapped.href, 'pulse_auth_oauth'), 'the cookie goes to every provider path').to.be.a('string');
      expectLanding(await browser.follow(swapped.href), { error: 'invalid-state' });
    });

    it('refuses a callback that arrives in another browser (without the cookie of the one that started)', async () => {
      const { callbackUrl } = await pendingCallback();
      const elsewhere = await newBrowser().follow(callbackUrl.href);
      expectLanding(elsewhere, { error: 'invalid-state' });
      expect(elsewhere.refreshCookie).to.equal(undefined);

      // Nor with a cookie of its own from a sign-in it started itself.
      const other = newBrowser();
      await other.signIn('acme', { login: providerUser({ email: uniqueEmail('other'), email_verified: true }), stopAtCallback: true });
      const { callbackUrl: anotherCallback } = await pendingCallback();
      expect(other.cookie(anotherCallback.href, 'pulse_auth_oauth')).to.be.a('string');
      expectLanding(await other.follow(anotherCallback.href), { error: 'invalid-state' });
    });
  });

  describe('provider failures', () => {
    it('sends the browser to the app with access-denied when consent is refused at the provider', async () => {
      const login = providerUser({ email: uniqueEmail('shy'), email_verified: true });
      const result = await newBrowser().signIn('acme', { login, consent: 'deny' });
      expect(result.visited.some((hop) => /\/interaction\/[^/]+\/abort$/.test(hop)), 'aborted at the provider').to.equal(true);
      expect(result.visited.some((hop) => hop.includes('/v1/auth/oauth/acme/callback?error=access_denied')), 'provider said access_denied').to.equal(true);
      expectLanding(result, { error: 'access-denied' });
      expect(result.refreshCookie).to.equal(undefined);
    });

    it('sends the browser to the app with provider-unavailable when the provider does not answer (no 500, no stack)', async () => {
      const reply = await app.request('GET', '/v1/auth/oauth/down/authorize');
      expect(reply.status).to.equal(302);
      expect(reply.headers.get('location')).to.equal(`${LANDING}?error=provider-unavailable`);
      expect(reply.text).to.equal('');
      expect(reply.headers.getSetCookie().filter((c) => c.startsWith('pulse_auth_oauth='))).to.deep.equal([]);
      expect(app.logText()).to.contain('oauth: provider discovery failed');

      const result = await newBrowser().signIn('down');
      expectLanding(result, { error: 'provider-unavailable' });
      expect(result.visited).to.have.length(1);
    });
  });

  describe('linking a provider to the signed-in account', () => {
    /** startIdentityLink with a proof: the authorizeUrl to send a browser to. */
    async function linkUrl(accessToken: string, proof: Record<string, string> = {}) {
      const reply = await app.request('POST', '/v1/me/identities/acme/link', { token: accessToken, body: proof });
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.headers.get('cache-control')).to.equal('no-store');
      return reply.body.authorizeUrl as string;
    }

    it('adds the identity through a link ticket asked for with the password, even when the provider email differs', async () => {
      const local = await app.createUser();
      const signedIn = await app.login(local.email, local.password);
      const url = await linkUrl(signedIn.accessToken, { password: local.password });
      expect(url.startsWith(`${app.baseUrl}/v1/auth/oauth/acme/authorize?intent=link&linkTicket=`), url).to.equal(true);

      const elsewhere = uniqueEmail('work-address');
      const login = providerUser({ email: elsewhere, email_verified: true });
      const before = app.mail.mails.length;
      const result = await newBrowser().follow(url, { login });
      expectLanding(result, { provider: 'acme', linked: 'true' });
      const tokens = await tokensFor(result.refreshCookie);
      expect(tokens.user.id).to.equal(local.user.id);
      const identities = await identitiesOf(signedIn.accessToken);
      expect(identities).to.have.length(1);
      expect(identities[0]).to.include({ provider: 'acme', email: elsewhere });
      const notice = await app.mail.next(local.email, { subject: /sign-in provider was linked/, after: before });
      expect(notice.text).to.contain(`acme (${elsewhere})`);

      // From now on that provider account signs into this account, in any browser.
      const later = await newBrowser().signIn('acme', { login });
      expectLanding(later, { provider: 'acme' });
      expect((await tokensFor(later.refreshCookie)).user.id).to.equal(local.user.id);

      // The ticket worked once.
      const again = await newBrowser().follow(url, { login });
      expectLanding(again, { error: 'link-expired' });
    });

    it('refuses to link a provider account that already belongs to another user (identity-in-use)', async () => {
      const owner = await providerAccount();
      const other = await app.createUser();
      const signedIn = await app.login(other.email, other.password);
      const result = await newBrowser().follow(await linkUrl(signedIn.accessToken, { password: other.password }), { login: owner.login });
      expectLanding(result, { error: 'identity-in-use' });
      expect(result.refreshCookie).to.equal(undefined);
      expect(await identitiesOf(signedIn.accessToken)).to.deep.equal([]);
      expect(await identitiesOf(owner.accessToken)).to.have.length(1);
    });

    it('answers link-expired, before going to the provider, for intent=link without a ticket, with a garbage ticket, or after the session ended', async () => {
      const login = providerUser({ email: uniqueEmail('nobody'), email_verified: true });
      for (const query of ['?intent=link', '?intent=link&linkTicket=not-a-ticket']) {
        const result = await newBrowser().follow(`${app.baseUrl}/v1/auth/oauth/acme/authorize${query}`, { login });
        expectLanding(result, { error: 'link-expired' });
        expect(result.visited, query).to.have.length(1);
      }

      const local = await app.createUser();
      const signedIn = await app.login(local.email, local.password);
      const url = await linkUrl(signedIn.accessToken, { password: local.password });
      await app.request('POST', '/v1/auth/logout', { token: signedIn.accessToken });
      const stale = await newBrowser().follow(url, { login });
      expectLanding(stale, { error: 'link-expired' });
      const { accessToken } = await app.login(local.email, local.password);
      expect(await identitiesOf(accessToken)).to.deep.equal([]);
    });

    it('does not link when the session that asked ends while the person is at the provider', async () => {
      const local = await app.createUser();
      const signedIn = await app.login(local.email, local.password);
      const login = providerUser({ email: uniqueEmail('slow'), email_verified: true });
      const browser = newBrowser();
      const atCallback = await browser.follow(await linkUrl(signedIn.accessToken, { password: local.password }), { login, stopAtCallback: true });
      await app.request('POST', '/v1/auth/logout-all', { token: signedIn.accessToken });
      const result = await browser.follow(atCallback.location);
      expectLanding(result, { error: 'link-expired' });
      const { accessToken } = await app.login(local.email, local.password);
      expect(await identitiesOf(accessToken)).to.deep.equal([]);
    });

    it('lets a ticket expire after 5 minutes', async () => {
      const local = await app.createUser();
      const signedIn = await app.login(local.email, local.password);
      const url = await linkUrl(signedIn.accessToken, { password: local.password });
      app.clock.advance(301);
      const result = await newBrowser().follow(url, { login: providerUser({ email: uniqueEmail('late'), email_verified: true }) });
      expectLanding(result, { error: 'link-expired' });
    });
  });

  describe('accounts made through a provider', () => {
    it('sets a first password without a current one, and may unlink the provider only once it has one', async () => {
      const account = await providerAccount();
      const early = await app.request('DELETE', '/v1/me/identities/acme', { token: account.accessToken });
      failWith(early, 409, 'last-sign-in-method');
      expect(await identitiesOf(account.accessToken)).to.have.length(1);

      const password = 'my very own passphrase';
      const set = await app.request('POST', '/v1/auth/password/change', { token: account.accessToken, body: { newPassword: password } });
      expect(set.status, set.text).to.equal(204);
      const signedIn = await app.login(account.email, password);
      expect(signedIn.user.id).to.equal(account.user.id);
      // Now that there is a password, changing it needs it.
      const without = await app.request('POST', '/v1/auth/password/change', { token: account.accessToken, body: { newPassword: 'another fine passphrase' } });
      expect(without.status).to.equal(403);

      const unlinked = await app.request('DELETE', '/v1/me/identities/acme', { token: account.accessToken });
      expect(unlinked.status).to.equal(204);
      expect(await identitiesOf(account.accessToken)).to.deep.equal([]);
      const gone = await app.request('DELETE', '/v1/me/identities/acme', { token: account.accessToken });
      expect(gone.status).to.equal(404);
    });

    it('answers a sign-in of an account with TOTP on with an MFA challenge and no refresh cookie', async () => {
      const account = await providerAccount();
      const enrolment = await app.request('POST', '/v1/me/mfa/totp', { token: account.accessToken });
      expect(enrolment.status).to.equal(200);
      const codeNow = () => {
        app.clock.advance(30);
        return generate({ secret: enrolment.body.secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
      };
      const confirmed = await app.request('POST', '/v1/me/mfa/totp/confirm', { token: account.accessToken, body: { code: await codeNow() } });
      expect(confirmed.status).to.equal(200);

      const result = await newBrowser().signIn('acme', { login: account.login });
      expect(result.location.split('?')[0]).to.equal(LANDING);
      expect([...result.outcome.keys()].sort()).to.deep.equal(['methods', 'mfaChallenge']);
      expect(result.outcome.get('methods')!.split(',')).to.have.members(['totp', 'recovery-code']);
      expect(result.refreshCookie).to.equal(undefined);
      expect(result.pulseSetCookies.filter((c) => c.startsWith('pulse_auth_refresh='))).to.deep.equal([]);

      // The challenge is a real one: a code finishes the sign-in, and the refresh cookie comes then.
      const verified = await app.request('POST', '/v1/auth/mfa/verify', {
        body: { challengeId: result.outcome.get('mfaChallenge'), code: await codeNow() },
      });
      expect(verified.status, verified.text).to.equal(200);
      expect(verified.body.user.id).to.equal(account.user.id);
      expect(verified.body).not.to.have.property('refreshToken');
      expect(verified.headers.getSetCookie().some((c) => /^pulse_auth_refresh=[^;]+/.test(c))).to.equal(true);
    });
  });
  describe('accounts an administrator has locked', () => {
    let adminToken: string;
    before(async () => {
      const admin = await app.createUser({ email: ADMIN_EMAIL });
      adminToken = (await app.login(admin.email, admin.password)).accessToken;
    });

    async function lock(userId: string) {
      const reply = await app.request('PATCH', `/v1/admin/users/${userId}`, { token: adminToken, body: { locked: true } });
      expect(reply.status, reply.text).to.equal(200);
    }

    // An administrator's lock (or an email marked unverified) holds for every way in, not only passwords.
    it('refuses a provider sign-in into a locked account with account-disabled, and starts no session', async () => {
      const account = await providerAccount();
      await lock(account.user.id);

      const result = await newBrowser().signIn('acme', { login: account.login });
      expectLanding(result, { error: 'account-disabled' });
      expect(result.refreshCookie).to.equal(undefined);
    });

    it('refuses a provider sign-in into an account whose email an administrator marked unverified', async () => {
      const account = await providerAccount();
      const reply = await app.request('PATCH', `/v1/admin/users/${account.user.id}`, { token: adminToken, body: { emailVerified: false } });
      expect(reply.status, reply.text).to.equal(200);

      const result = await newBrowser().signIn('acme', { login: account.login });
      expectLanding(result, { error: 'account-disabled' });
      expect(result.refreshCookie).to.equal(undefined);
    });

    it('refuses a provider sign-in into a locked account with TOTP on: no challenge that would end in tokens', async () => {
      const account = await providerAccount();
      const enrolment = await app.request('POST', '/v1/me/mfa/totp', { token: account.accessToken });
      const codeNow = () => {
        app.clock.advance(30);
        return generate({ secret: enrolment.body.secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
      };
      expect((await app.request('POST', '/v1/me/mfa/totp/confirm', { token: account.accessToken, body: { code: await codeNow() } })).status).to.equal(200);
      await lock(account.user.id);

      const result = await newBrowser().signIn('acme', { login: account.login });
      const challengeId = result.outcome.get('mfaChallenge');
      if (challengeId) {
        // If a challenge is given anyway, finishing it must not hand out tokens.
        const verified = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId, code: await codeNow() } });
        expect(verified.status, `a locked account got ${verified.status} ${verified.text.slice(0, 120)}`).not.to.equal(200);
      }
      expectLanding(result, { error: 'account-disabled' });
    });
  });
});
