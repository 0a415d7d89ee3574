import { expect } from 'chai';
import { generate } from 'otplib';
import { TestServer, uniqueEmail, refreshCookie } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { Browser, TestOidcProvider, type ProviderAccount } from '../helpers/oidc-provider.js';
import { failWith } from '../helpers/assertions.js';

const LANDING = 'http://app.test/oauth/complete';
const ADMIN_EMAIL = 'takeover-admin@example.com';

/**
 * Regression tests for the account-takeover paths of the outside review (issue 14, items 1, 2, 4 and the
 * step-up half of 6), each named after its attack and run on SQLite and PostgreSQL.
 */
describe('account takeover paths (linking, pre-account hijack, planted factors, step-up guessing)', () => {
  let idp: TestOidcProvider;
  let app: TestServer;

  before(async () => {
    idp = await TestOidcProvider.listen();
    app = await TestServer.start(
      { OIDC_PROVIDERS: 'acme', ...idp.envFor('acme'), ADMIN_EMAILS: ADMIN_EMAIL, LOCKOUT_ACCOUNT_THRESHOLD: '3' },
      { publicUrlIsServer: true },
    );
    idp.configure(`${app.baseUrl}/v1/auth/oauth/acme/callback`);
  });
  after(async () => {
    await app?.stop();
    await idp?.stop();
  });

  const providerUser = (claims: ProviderAccount) => idp.newAccount(claims, 'takeover-user');
  const landing = (location: string) => ({ page: location.split('?')[0], outcome: Object.fromEntries(new URL(location).searchParams) });

  async function identitiesOf(accessToken: string) {
    const reply = await app.request('GET', '/v1/me/identities', { token: accessToken });
    expect(reply.status).to.equal(200);
    return reply.body.items as Array<{ provider: string }>;
  }

  /** Signs in with cookie delivery: the access token and the refresh cookie, as a browser holds them. */
  async function browserSession(email: string, password: string) {
    const reply = await app.request('POST', '/v1/auth/login', { body: { email, password, refreshTokenDelivery: 'cookie' } });
    expect(reply.status).to.equal(200);
    return { accessToken: reply.body.accessToken as string, cookie: refreshCookie(reply.headers)!.split(';')[0] };
  }

  describe('1. identity linking without a fresh proof', () => {
    it('identity linking with a stale refresh token: a cookie rotated past the grace window links nothing, and the attacker never signs in to the account', async () => {
      const victim = await app.createUser();
      const session = await browserSession(victim.email, victim.password);
      const rotated = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: session.cookie } });
      expect(rotated.status).to.equal(200);
      const current = refreshCookie(rotated.headers)!.split(';')[0];
      app.clock.advance(12);

      // The attacker replays the old cookie to start a link with their own provider account.
      const attackerLogin = providerUser({ email: uniqueEmail('attacker'), email_verified: true });
      const attacker = new Browser(app.baseUrl);
      attacker.store(`${app.baseUrl}/v1/auth/login`, `${session.cookie}; Path=/v1/auth`);
      const result = await attacker.signIn('acme', { login: attackerLogin, intent: 'link' });
      expect(landing(result.location)).to.deep.equal({ page: LANDING, outcome: { error: 'link-expired' } });
      expect(result.visited, 'never sent to the provider').to.have.length(1);

      const owner = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: current } });
      expect(owner.status, 'the victim keeps signing in').to.equal(200);
      expect(await identitiesOf(owner.body.accessToken)).to.deep.equal([]);
      // The attacker's later social sign-in makes an account of their own, not a way into the victim's.
      const later = await new Browser(app.baseUrl).signIn('acme', { login: attackerLogin });
      const theirs = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: later.refreshCookie! } });
      expect(theirs.body.user.id).not.to.equal(victim.user.id);
    });

    it('identity linking with a bare access token: a bearer token on startOAuth links nothing', async () => {
      const victim = await app.createUser();
      const { accessToken } = await app.login(victim.email, victim.password);
      const started = await app.request('GET', '/v1/auth/oauth/acme/authorize?intent=link', { token: accessToken });
      expect(started.status).to.equal(302);
      expect(landing(started.headers.get('location')!)).to.deep.equal({ page: LANDING, outcome: { error: 'link-expired' } });
      expect(await identitiesOf(accessToken)).to.deep.equal([]);
    });

    it('identity linking from a bare session: startIdentityLink needs the password, and a wrong one counts toward the lockout', async () => {
      const victim = await app.createUser();
      const { accessToken } = await app.login(victim.email, victim.password);
      const bare = await app.request('POST', '/v1/me/identities/acme/link', { token: accessToken });
      failWith(bare, 403, 'reauthentication-required');
      const wrong = await app.request('POST', '/v1/me/identities/acme/link', { token: accessToken, body: { password: 'not the password' } });
      expect(wrong.status).to.equal(403);
      const unknown = await app.request('POST', '/v1/me/identities/nope/link', { token: accessToken, body: { password: victim.password } });
      expect(unknown.status).to.equal(404);
      const right = await app.request('POST', '/v1/me/identities/acme/link', { token: accessToken, body: { password: victim.password } });
      expect(right.status).to.equal(200);
      expect(new Date(right.body.expiresAt).getTime() - app.clock.now().getTime()).to.be.within(290_000, 300_000);
    });

    it('sign-out with a replayed refresh token: a token rotated past the grace window ends its session as reuse', async () => {
      const victim = await app.createUser();
      const session = await browserSession(victim.email, victim.password);
      const rotated = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: session.cookie } });
      const current = refreshCookie(rotated.headers)!.split(';')[0];
      app.clock.advance(12);
      const replay = await app.request('POST', '/v1/auth/logout', { headers: { cookie: session.cookie } });
      expect(replay.status).to.equal(401);
      const after = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: current } });
      expect(after.status, 'the whole session ended').to.equal(401);
    });

    it('identity planted before a password reset: the reset mail lists it, and unlinkIdentities removes it for good', async () => {
      const victim = await app.createUser();
      const { accessToken } = await app.login(victim.email, victim.password);
      const link = await app.request('POST', '/v1/me/identities/acme/link', { token: accessToken, body: { password: victim.password } });
      const attackerLogin = providerUser({ email: uniqueEmail('planted'), email_verified: true });
      const linked = await new Browser(app.baseUrl).follow(link.body.authorizeUrl, { login: attackerLogin });
      expect(landing(linked.location).outcome).to.deep.equal({ provider: 'acme', linked: 'true' });

      const before = app.mail.mails.length;
      expect((await app.request('POST', '/v1/auth/password/forgot', { body: { email: victim.email } })).status).to.equal(202);
      const resetMail = await app.mail.next(victim.email, { subject: /Reset your password/, after: before });
      expect(resetMail.text).to.contain('These sign-in providers are linked to your account as well: acme (');
      const reset = await app.request('POST', '/v1/auth/password/reset', {
        body: { token: tokenFrom(resetMail), password: 'my account is mine again', unlinkIdentities: true },
      });
      expect(reset.status).to.equal(204);
      const changed = await app.mail.next(victim.email, { subject: /password was changed/, after: before });
      expect(changed.text).to.contain('These sign-in providers were unlinked from your account: acme (');

      const attackerAgain = await new Browser(app.baseUrl).signIn('acme', { login: attackerLogin });
      const theirs = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: attackerAgain.refreshCookie! } });
      expect(theirs.body.user.id, 'the provider account no longer opens the victim account').not.to.equal(victim.user.id);
    });
  });

  describe('2. pre-account hijack through registration', () => {
    it('pre-account hijack: an attacker who registers the victim email first never owns the account, whether a scanner or the victim opens the link', async () => {
      const victim = uniqueEmail('prehijack');
      const attackerPassword = 'the attacker picked this';
      const victimPassword = 'the victim picked this one';
      let before = app.mail.mails.length;
      expect((await app.request('POST', '/v1/auth/register', { body: { email: victim, password: attackerPassword } })).status).to.equal(202);
      const token = tokenFrom(await app.mail.next(victim, { subject: /Confirm/, after: before }));

      // A mail scanner (or the old hosted page, on load) posts the token alone: no account.
      const scanner = await app.request('POST', '/v1/auth/verify-email', { body: { token } });
      expect(scanner.status).to.equal(400);
      // The victim, who never chose the attacker's password, cannot confirm it either; the link is not spent.
      const owner = await app.request('POST', '/v1/auth/verify-email', { body: { token, password: victimPassword } });
      failWith(owner, 403, 'registration-password-mismatch');
      expect(owner.body.errors).to.deep.equal([{ pointer: '/body/password', detail: 'not the password of this registration' }]);
      expect((await app.request('POST', '/v1/auth/login', { body: { email: victim, password: attackerPassword } })).status).to.equal(401);

      // The victim signs up themselves: their registration wins, and the account has their password only.
      before = app.mail.mails.length;
      expect((await app.request('POST', '/v1/auth/register', { body: { email: victim, password: victimPassword } })).status).to.equal(202);
      const own = tokenFrom(await app.mail.next(victim, { subject: /Confirm/, after: before }));
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token, password: attackerPassword } })).status).to.equal(400);
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token: own, password: victimPassword } })).status).to.equal(200);
      expect((await app.request('POST', '/v1/auth/login', { body: { email: victim, password: attackerPassword } })).status).to.equal(401);
      expect((await app.request('POST', '/v1/auth/login', { body: { email: victim, password: victimPassword } })).status).to.equal(200);
    });

    it('a garbage verification token is refused before any password is hashed', async () => {
      const reply = await app.request('POST', '/v1/auth/verify-email', { body: { token: 'not-a-token', password: 'whatever it is' } });
      failWith(reply, 400, 'invalid-verification-token');
    });
  });

  describe('4. lasting changes from a bare session', () => {
    it('factor planting from a bare session: enrollTotp and enableEmailOtp need the password, and turning a factor on mails the owner', async () => {
      const victim = await app.createUser();
      const { accessToken } = await app.login(victim.email, victim.password);
      for (const [method, path] of [
        ['POST', '/v1/me/mfa/totp'],
        ['PUT', '/v1/me/mfa/email'],
      ] as const) {
        const bare = await app.request(method, path, { token: accessToken });
        failWith(bare, 403, 'reauthentication-required', path);
      }
      const status = await app.request('GET', '/v1/me/mfa', { token: accessToken });
      expect(status.body).to.include({ totpEnabled: false, emailOtpEnabled: false });

      let before = app.mail.mails.length;
      const enrolled = await app.request('POST', '/v1/me/mfa/totp', { token: accessToken, body: { password: victim.password } });
      expect(enrolled.status).to.equal(200);
      const code = await generate({ secret: enrolled.body.secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
      expect((await app.request('POST', '/v1/me/mfa/totp/confirm', { token: accessToken, body: { code } })).status).to.equal(200);
      expect((await app.mail.next(victim.email, { subject: /Two-step sign-in was turned on/, after: before })).text).to.contain('authenticator app');

      before = app.mail.mails.length;
      const email = await app.request('PUT', '/v1/me/mfa/email', { token: accessToken, body: { password: victim.password } });
      expect(email.status).to.equal(200);
      expect(email.body.emailOtpEnabled).to.equal(true);
      expect((await app.mail.next(victim.email, { subject: /Two-step sign-in was turned on/, after: before })).text).to.contain('by email');
    });

    it('first password from a stale session: an account made through a provider sets a password only from a recent sign-in, and is mailed', async () => {
      const email = uniqueEmail('social-first-password');
      const login = providerUser({ email, email_verified: true });
      const signedIn = await new Browser(app.baseUrl).signIn('acme', { login });
      const tokens = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: signedIn.refreshCookie! } });
      app.clock.advance(301);
      // The access token is still valid (15 minutes), but the sign-in is older than REAUTH_MAX_AGE.
      const stale = await app.request('POST', '/v1/auth/password/change', { token: tokens.body.accessToken, body: { newPassword: 'planted by a thief' } });
      failWith(stale, 403, 'reauthentication-required');

      const fresh = await new Browser(app.baseUrl).signIn('acme', { login });
      const freshTokens = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: fresh.refreshCookie! } });
      const before = app.mail.mails.length;
      const set = await app.request('POST', '/v1/auth/password/change', { token: freshTokens.body.accessToken, body: { newPassword: 'chosen by the owner' } });
      expect(set.status).to.equal(204);
      expect((await app.mail.next(email, { subject: /Your password was changed/, after: before })).text).to.contain('A password was set for your account');
    });

    it('a planted factor can be cleared by an administrator: adminResetUserMfa turns every factor off, is audited and mails the owner', async () => {
      const admin = await app.createUser({ email: ADMIN_EMAIL });
      const { accessToken: adminToken } = await app.login(admin.email, admin.password);
      const victim = await app.createUser();
      const { accessToken } = await app.login(victim.email, victim.password);
      const enrolled = await app.request('POST', '/v1/me/mfa/totp', { token: accessToken, body: { password: victim.password } });
      const code = await generate({ secret: enrolled.body.secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
      await app.request('POST', '/v1/me/mfa/totp/confirm', { token: accessToken, body: { code } });
      await app.request('PUT', '/v1/me/mfa/email', { token: accessToken, body: { password: victim.password } });
      const challenge = await app.request('POST', '/v1/auth/login', { body: { email: victim.email, password: victim.password } });
      expect(challenge.body.mfaRequired).to.equal(true);

      const forbidden = await app.request('DELETE', `/v1/admin/users/${victim.user.id}/mfa`, { token: accessToken });
      expect(forbidden.status).to.equal(403);
      const missing = await app.request('DELETE', '/v1/admin/users/00000000-0000-4000-8000-000000000000/mfa', { token: adminToken });
      expect(missing.status).to.equal(404);
      const before = app.mail.mails.length;
      const reset = await app.request('DELETE', `/v1/admin/users/${victim.user.id}/mfa`, { token: adminToken });
      expect(reset.status).to.equal(204);

      expect((await app.request('GET', '/v1/me/mfa', { token: accessToken })).body).to.deep.equal({ totpEnabled: false, emailOtpEnabled: false, recoveryCodesRemaining: 0, passkeys: 0 });
      const pending = await app.request('POST', '/v1/auth/mfa/verify', { body: { challengeId: challenge.body.challengeId, code: '123456' } });
      expect(pending.body.code, 'the waiting challenge is gone').to.equal('mfa-challenge-invalid');
      expect((await app.login(victim.email, victim.password)).accessToken, 'signs in with the password alone').to.be.a('string');
      expect((await app.mail.next(victim.email, { subject: /Two-step sign-in was turned off/, after: before })).text).to.contain('An administrator');
      const events = await app.request('GET', `/v1/admin/audit-events?action=admin.user-mfa-reset&targetId=${victim.user.id}`, { token: adminToken });
      const outcomes = events.body.items.map((event: { actorUserId: string; outcome: string }) => [event.outcome, event.actorUserId]);
      expect(outcomes).to.have.deep.members([
        ['success', admin.user.id],
        ['failure', victim.user.id],
      ]);
    });
  });

  describe('6. password guessing through step-up operations', () => {
    it('step-up password guessing: wrong passwords at changePassword, deleteMe and disableTotp lock the account like wrong sign-ins', async () => {
      const victim = await app.createUser();
      const { accessToken } = await app.login(victim.email, victim.password);
      const wrongAt = [
        ['POST', '/v1/auth/password/change', { currentPassword: 'guess one', newPassword: 'a perfectly new passphrase' }],
        ['DELETE', '/v1/me', { password: 'guess two' }],
        ['DELETE', '/v1/me/mfa/email', { password: 'guess three' }],
      ] as const;
      for (const [method, path, body] of wrongAt) {
        const reply = await app.request(method, path, { token: accessToken, body });
        expect(reply.status, path).to.equal(403);
      }
      // The threshold (3 here) is reached: the right password is refused too, at step-up and at sign-in alike.
      const locked = await app.request('DELETE', '/v1/me', { token: accessToken, body: { password: victim.password } });
      failWith(locked, 429, 'too-many-failed-attempts');
      expect(Number(locked.headers.get('retry-after'))).to.be.greaterThan(0);
      const login = await app.request('POST', '/v1/auth/login', { body: { email: victim.email, password: victim.password } });
      expect(login.status).to.equal(429);
      expect((await app.request('GET', '/v1/me', { token: accessToken })).status, 'the account was not deleted').to.equal(200);
    });

    it('step-up code guessing in parallel: 12 wrong TOTP codes sent together at disableTotp check at most the threshold', async () => {
      const victim = await app.createUser();
      const { accessToken } = await app.login(victim.email, victim.password);
      const enrolled = await app.request('POST', '/v1/me/mfa/totp', { token: accessToken, body: { password: victim.password } });
      const code = await generate({ secret: enrolled.body.secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
      await app.request('POST', '/v1/me/mfa/totp/confirm', { token: accessToken, body: { code } });

      const replies = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          app.request('DELETE', '/v1/me/mfa/totp', { token: accessToken, body: { code: String(100000 + i * 7919).slice(0, 6) } }),
        ),
      );
      const statuses = replies.map((reply) => reply.status);
      expect(statuses.filter((status) => status === 403).length, statuses.join(',')).to.be.at.most(3);
      expect(statuses.filter((status) => status === 429).length, statuses.join(',')).to.be.at.least(9);
      expect((await app.request('GET', '/v1/me/mfa', { token: accessToken })).body.totpEnabled).to.equal(true);
    });
  });
});
