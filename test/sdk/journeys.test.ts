import { expect } from 'chai';
import { generate } from 'otplib';
import { createPulseAuthClient, isMfaChallenge, type PulseAuthClient, type TokenResponse } from '../../sdk/index.js';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { responseProblems } from '../helpers/spec-validator.js';
import { PrismProxy } from '../helpers/prism.js';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js';

/** SDK_VIA_PRISM=1 (npm run test:sdk:prism): the journeys go through a Prism validating proxy (prism proxy --errors). */
const viaPrism = process.env.SDK_VIA_PRISM === '1';

/**
 * The main journeys of a client app, through the generated SDK (sdk/: openapi-typescript types + openapi-fetch)
 * against the real server. Every answer is also checked against the spec, as the API tests do.
 */
describe(`SDK journeys (sdk/ against the real server${viaPrism ? ', through a Prism validating proxy' : ''})`, () => {
  let app: TestServer;
  let prism: PrismProxy | undefined;
  let baseUrl: string;
  let specProblems: string[];

  before(async function () {
    this.timeout(150_000);
    app = await TestServer.start();
    prism = viaPrism ? await PrismProxy.start('openapi/openapi.yaml', app.baseUrl) : undefined;
    baseUrl = prism?.url ?? app.baseUrl;
  });
  after(async () => {
    await prism?.stop();
    await app?.stop();
  });
  beforeEach(() => {
    specProblems = [];
  });
  afterEach(() => {
    expect(specProblems, 'answers that do not match the spec').to.deep.equal([]);
    if (prism) expect(prism.violations(), 'what Prism found against the spec').to.deep.equal([]);
  });

  /** A client as an app would make it, with a fetch that also checks each answer against the spec. */
  function client(): PulseAuthClient {
    return createPulseAuthClient({
      baseUrl,
      fetch: async (request: Request) => {
        const response = await fetch(request);
        if (response.headers.has('sl-violations')) specProblems.push(`prism: ${response.headers.get('sl-violations')}`);
        const text = await response.clone().text();
        const contentType = response.headers.get('content-type');
        const body = text && /json/.test(contentType ?? '') ? JSON.parse(text) : text || undefined;
        specProblems.push(...responseProblems(request.method, new URL(request.url).pathname, response.status, contentType, body));
        return response;
      },
    });
  }

  /** The code the authenticator app shows now, by the server's (fake) clock, moved to a fresh 30-second step. */
  async function totpCode(secret: string): Promise<string> {
    app.clock.advance(30);
    return generate({ secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
  }

  /** register → the mailed link → verifyEmail, through the SDK. */
  async function signUp(sdk: PulseAuthClient, password = 'a perfectly fine passphrase') {
    const email = uniqueEmail('sdk');
    const before = app.mail.mails.length;
    const registered = await sdk.POST('/v1/auth/register', { body: { email, password, name: 'Ada Lovelace' } });
    expect(registered.error, JSON.stringify(registered.error)).to.equal(undefined);
    expect(registered.response.status).to.equal(202);
    expect(registered.data!.message).to.be.a('string').and.not.equal('');

    const mail = await app.mail.next(email, { subject: /Confirm/, after: before });
    const verified = await sdk.POST('/v1/auth/verify-email', { body: { token: tokenFrom(mail), password } });
    expect(verified.error, JSON.stringify(verified.error)).to.equal(undefined);
    const user = verified.data!;
    expect(user).to.include({ email, name: 'Ada Lovelace', emailVerified: true, role: 'user' });
    return { email, password, user };
  }

  /** login with body delivery, expecting tokens (no second factor). */
  async function logIn(sdk: PulseAuthClient, email: string, password: string): Promise<TokenResponse> {
    const { data, error } = await sdk.POST('/v1/auth/login', { body: { email, password, refreshTokenDelivery: 'body' } });
    expect(error, JSON.stringify(error)).to.equal(undefined);
    if (!data || isMfaChallenge(data)) throw new Error(`expected tokens, got ${JSON.stringify(data)}`);
    return data;
  }

  it('adds a passkey and signs in with it, typed end to end by the SDK (the authenticator answers what the options say)', async () => {
    const sdk = client();
    const { email, password } = await signUp(sdk);
    sdk.setAccessToken((await logIn(sdk, email, password)).accessToken);
    // The test server's APP_URL is http://app.test: the page of the app is there.
    const authenticator = new SoftwareAuthenticator('http://app.test');

    const started = await sdk.POST('/v1/me/passkeys/options', { body: { password } });
    expect(started.error, JSON.stringify(started.error)).to.equal(undefined);
    const options = started.data!.options;
    expect(options.authenticatorSelection?.residentKey).to.equal('required');
    const finished = await sdk.POST('/v1/me/passkeys', {
      body: { challengeId: started.data!.challengeId, credential: authenticator.register(options).json, name: 'Phone' },
    });
    expect(finished.error, JSON.stringify(finished.error)).to.equal(undefined);
    expect(finished.response.status).to.equal(201);
    const renamed = await sdk.PATCH('/v1/me/passkeys/{passkeyId}', { params: { path: { passkeyId: finished.data!.id } }, body: { name: 'Work phone' } });
    expect(renamed.data?.name).to.equal('Work phone');
    expect((await sdk.GET('/v1/me/passkeys')).data!.items.map((passkey) => passkey.name)).to.deep.equal(['Work phone']);

    const anonymous = client();
    const start = await anonymous.POST('/v1/auth/passkey/options', { body: {} });
    expect(start.error, JSON.stringify(start.error)).to.equal(undefined);
    const signedIn = await anonymous.POST('/v1/auth/passkey/verify', {
      body: { challengeId: start.data!.challengeId, credential: authenticator.authenticate(start.data!.options), refreshTokenDelivery: 'body' },
    });
    expect(signedIn.error, JSON.stringify(signedIn.error)).to.equal(undefined);
    expect(signedIn.data!.user.email).to.equal(email);

    // A replay is refused with the documented problem, typed as the SDK's error.
    const replay = await anonymous.POST('/v1/auth/passkey/verify', {
      body: { challengeId: start.data!.challengeId, credential: authenticator.authenticate(start.data!.options) },
    });
    expect(replay.response.status).to.equal(401);
    expect(replay.error?.code).to.equal('passkey-sign-in-failed');
  });

  it('builds a team: an organization, an invitation accepted by the invited account, an org-scoped token', async () => {
    const sdk = client();
    const owner = await signUp(sdk);
    const invitee = await signUp(sdk);
    const ownerTokens = await logIn(sdk, owner.email, owner.password);
    const inviteeTokens = await logIn(sdk, invitee.email, invitee.password);
    const as = (tokens: TokenResponse) => ({ headers: { authorization: `Bearer ${tokens.accessToken}` } });

    const created = await sdk.POST('/v1/orgs', { body: { name: 'SDK Team' }, ...as(ownerTokens) });
    expect(created.data!.role).to.equal('owner');
    const orgId = created.data!.id;
    const before = app.mail.mails.length;
    const invited = await sdk.POST('/v1/orgs/{orgId}/invitations', { params: { path: { orgId } }, body: { email: invitee.email, role: 'admin' }, ...as(ownerTokens) });
    expect(invited.response.status).to.equal(201);
    const mail = await app.mail.next(invitee.email, { subject: /Join SDK Team/, after: before });
    const joined = await sdk.POST('/v1/invitations/accept', { body: { token: tokenFrom(mail) }, ...as(inviteeTokens) });
    expect(joined.data).to.include({ id: orgId, role: 'admin' });

    const scoped = await sdk.POST('/v1/me/active-organization', { body: { organizationId: orgId }, ...as(inviteeTokens) });
    const me = await sdk.GET('/v1/me', as(scoped.data!));
    expect(me.data!.activeOrganization).to.deep.include({ id: orgId, role: 'admin', name: 'SDK Team' });
    const members = await sdk.GET('/v1/orgs/{orgId}/members', { params: { path: { orgId } }, ...as(scoped.data!) });
    expect(members.data!.items.map((member) => member.role)).to.have.members(['owner', 'admin']);
    const refused = await sdk.PATCH('/v1/orgs/{orgId}/members/{userId}', { params: { path: { orgId, userId: owner.user.id } }, body: { role: 'member' }, ...as(scoped.data!) });
    expect(refused.error!.code).to.equal('insufficient-role');
  });

  it('registers, verifies, signs in, reads the profile, refreshes, lists sessions and signs out', async () => {
    const sdk = client();
    const { email, password, user } = await signUp(sdk);

    const tokens = await logIn(sdk, email, password);
    expect(tokens.tokenType).to.equal('Bearer');
    expect(tokens.expiresIn).to.be.a('number').greaterThan(0);
    expect(tokens.user.id).to.equal(user.id);
    expect(tokens.session.current).to.equal(true);
    expect(tokens.refreshToken, 'body delivery').to.be.a('string');

    // Without a token the profile is refused; with it (injected by the SDK's middleware), it is there.
    // (Prism answers a request without the required credential itself, with a body of its own: not through it.)
    if (!viaPrism) {
      const anonymous = await sdk.GET('/v1/me');
      expect(anonymous.response.status).to.equal(401);
      expect(anonymous.error?.code).to.equal('authentication-required');
    }
    sdk.setAccessToken(tokens.accessToken);
    const me = await sdk.GET('/v1/me');
    expect(me.error, JSON.stringify(me.error)).to.equal(undefined);
    expect(me.data).to.deep.include({ id: user.id, email, name: 'Ada Lovelace' });

    const refreshed = await sdk.POST('/v1/auth/refresh', { body: { refreshToken: tokens.refreshToken! } });
    expect(refreshed.error, JSON.stringify(refreshed.error)).to.equal(undefined);
    const renewed = refreshed.data!;
    expect(renewed.session.id).to.equal(tokens.session.id);
    expect(renewed.refreshToken).to.be.a('string').and.not.equal(tokens.refreshToken);
    expect(renewed.accessToken).to.be.a('string');
    sdk.setAccessToken(renewed.accessToken);

    const sessions = await sdk.GET('/v1/me/sessions');
    expect(sessions.error, JSON.stringify(sessions.error)).to.equal(undefined);
    const current = sessions.data!.items.filter((session) => session.current);
    expect(current.map((session) => session.id)).to.deep.equal([tokens.session.id]);

    const loggedOut = await sdk.POST('/v1/auth/logout');
    expect(loggedOut.error, JSON.stringify(loggedOut.error)).to.equal(undefined);
    expect(loggedOut.response.status).to.equal(204);

    // The session is over: its access token and its refresh token are refused.
    const after = await sdk.GET('/v1/me');
    expect(after.response.status).to.equal(401);
    expect(after.error?.code).to.equal('invalid-access-token');
    sdk.setAccessToken(null);
    const refreshAfter = await sdk.POST('/v1/auth/refresh', { body: { refreshToken: renewed.refreshToken! } });
    expect(refreshAfter.response.status).to.equal(401);
    expect(refreshAfter.error?.code).to.equal('invalid-refresh-token');
  });

  it('resets a forgotten password with the mailed link, then signs in with the new one', async () => {
    const sdk = client();
    const { email, password } = await signUp(sdk);

    const before = app.mail.mails.length;
    const forgot = await sdk.POST('/v1/auth/password/forgot', { body: { email } });
    expect(forgot.error, JSON.stringify(forgot.error)).to.equal(undefined);
    expect(forgot.response.status).to.equal(202);
    const mail = await app.mail.next(email, { subject: /Reset/, after: before });

    const newPassword = 'a brand new passphrase for the sdk';
    const reset = await sdk.POST('/v1/auth/password/reset', { body: { token: tokenFrom(mail), password: newPassword } });
    expect(reset.error, JSON.stringify(reset.error)).to.equal(undefined);
    expect(reset.response.status).to.equal(204);

    const old = await sdk.POST('/v1/auth/login', { body: { email, password, refreshTokenDelivery: 'body' } });
    expect(old.response.status).to.equal(401);
    expect(old.error?.code).to.equal('invalid-credentials');

    const tokens = await logIn(sdk, email, newPassword);
    sdk.setAccessToken(tokens.accessToken);
    expect((await sdk.GET('/v1/me')).data?.email).to.equal(email);
  });

  it('signs in without a password: asks for a mail, then signs in with its code (the link is for the hosted page)', async () => {
    const sdk = client();
    const { email, user } = await signUp(sdk);
    const before = app.mail.mails.length;
    const asked = await sdk.POST('/v1/auth/email-sign-in', { body: { email } });
    expect(asked.error, JSON.stringify(asked.error)).to.equal(undefined);
    expect(asked.response.status).to.equal(202);
    const mail = await app.mail.next(email, { subject: /Sign in to your account/, after: before });
    const code = /enter the code (\d{6})/.exec(mail.text)![1];

    const wrong = await sdk.POST('/v1/auth/email-sign-in/verify', { body: { email, code: code === '000000' ? '000001' : '000000' } });
    expect(wrong.response.status).to.equal(401);
    expect(wrong.error!.code).to.equal('invalid-email-sign-in');

    const { data, error } = await sdk.POST('/v1/auth/email-sign-in/verify', { body: { email, code, refreshTokenDelivery: 'body' } });
    expect(error, JSON.stringify(error)).to.equal(undefined);
    if (!data || isMfaChallenge(data)) throw new Error(`expected tokens, got ${JSON.stringify(data)}`);
    expect(data.user.id).to.equal(user.id);
    expect(data.refreshToken).to.be.a('string');
  });

  it('turns on an authenticator app and signs in with a TOTP code', async () => {
    const sdk = client();
    const { email, password, user } = await signUp(sdk);
    const first = await logIn(sdk, email, password);
    sdk.setAccessToken(first.accessToken);

    const enrolment = await sdk.POST('/v1/me/mfa/totp', { body: { password } });
    expect(enrolment.error, JSON.stringify(enrolment.error)).to.equal(undefined);
    const { secret, otpauthUri } = enrolment.data!;
    expect(otpauthUri).to.match(/^otpauth:\/\/totp\//).and.contain(`secret=${secret}`);

    const wrong = await sdk.POST('/v1/me/mfa/totp/confirm', { body: { code: '000000' } });
    expect(wrong.response.status).to.equal(422);
    expect(wrong.error?.code).to.equal('invalid-totp-code');
    const confirmed = await sdk.POST('/v1/me/mfa/totp/confirm', { body: { code: await totpCode(secret) } });
    expect(confirmed.error, JSON.stringify(confirmed.error)).to.equal(undefined);
    expect(confirmed.data!.recoveryCodes).to.have.length(10);
    const status = await sdk.GET('/v1/me/mfa');
    expect(status.data).to.deep.include({ totpEnabled: true, recoveryCodesRemaining: 10 });

    // Signing in now answers with a challenge, not tokens.
    sdk.setAccessToken(null);
    const login = await sdk.POST('/v1/auth/login', { body: { email, password, refreshTokenDelivery: 'body' } });
    expect(login.error, JSON.stringify(login.error)).to.equal(undefined);
    const challenge = login.data!;
    if (!isMfaChallenge(challenge)) throw new Error(`expected an MFA challenge, got ${JSON.stringify(challenge)}`);
    expect(challenge.mfaRequired).to.equal(true);
    expect(challenge.methods).to.include('totp');
    expect(challenge).not.to.have.property('accessToken');

    const verified = await sdk.POST('/v1/auth/mfa/verify', { body: { challengeId: challenge.challengeId, code: await totpCode(secret), method: 'totp' } });
    expect(verified.error, JSON.stringify(verified.error)).to.equal(undefined);
    const tokens = verified.data!;
    expect(tokens.user.id).to.equal(user.id);
    expect(tokens.refreshToken, 'delivered as asked at login').to.be.a('string');
    expect(tokens.session.id).not.to.equal(first.session.id);

    sdk.setAccessToken(tokens.accessToken);
    const me = await sdk.GET('/v1/me');
    expect(me.data?.id).to.equal(user.id);
  });
});
