import { generateKeyPairSync } from 'node:crypto';
import { expect } from 'chai';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';
import { FLAG_AT, FLAG_UP, FLAG_UV, SoftwareAuthenticator, type Bend } from '../helpers/software-authenticator.js';
import { AuditEventSchema, LoginAttemptSchema, PasskeySchema, SessionSchema, UserSchema, WebauthnChallengeSchema } from '../../src/db/entities.js';
import { deleteSpentTokens } from '../../src/jobs/cleanup.js';

// The test server's APP_URL is http://app.test: the relying party is app.test, and the page's origin is that URL.
const ORIGIN = 'http://app.test';
const RP_ID = 'app.test';

describe('passkeys (startPasskeyRegistration … finishPasskeySignIn) with a software authenticator', () => {
  let app: TestServer;

  before(async () => {
    app = await TestServer.start();
  });
  after(async () => {
    await app?.stop();
  });

  const em = () => app.services.orm.em.fork();

  /** A signed-in account with its own authenticator. */
  async function account() {
    const created = await app.createUser();
    const signedIn = await app.login(created.email, created.password);
    return { ...created, token: signedIn.accessToken, userId: signedIn.user.id, authenticator: new SoftwareAuthenticator(ORIGIN) };
  }
  type Account = Awaited<ReturnType<typeof account>>;

  async function startRegistration(who: Account) {
    const started = await app.request('POST', '/v1/me/passkeys/options', { token: who.token, body: { password: who.password } });
    expect(started.status, started.text).to.equal(200);
    return started.body as { challengeId: string; options: any; expiresAt: string };
  }

  /** Registers a new passkey of `who`'s authenticator; answers the reply and the authenticator's credential. */
  async function register(who: Account, bend: Bend = {}, name?: string) {
    const started = await startRegistration(who);
    const made = who.authenticator.register(started.options, bend);
    const reply = await app.request('POST', '/v1/me/passkeys', {
      token: who.token,
      body: { challengeId: started.challengeId, credential: made.json, ...(name ? { name } : {}) },
    });
    return { reply, credential: made.credential };
  }

  async function startSignIn() {
    const started = await app.request('POST', '/v1/auth/passkey/options', { body: {} });
    expect(started.status, started.text).to.equal(200);
    return started.body as { challengeId: string; options: any; expiresAt: string };
  }

  async function finishSignIn(challengeId: string, credential: unknown, headers: Record<string, string> = {}) {
    return app.request('POST', '/v1/auth/passkey/verify', { body: { challengeId, credential, refreshTokenDelivery: 'body' }, headers });
  }

  /** What a refused ceremony must leave as it was: the account's passkeys (counters, last use) and sessions. */
  async function stateOf(userId: string) {
    const fork = em();
    const passkeys = await fork.find(PasskeySchema, { userId }, { orderBy: { id: 'asc' } });
    const sessions = await fork.count(SessionSchema, { userId });
    return JSON.stringify({ passkeys: passkeys.map((p) => ({ ...p })), sessions });
  }

  async function lastAttemptOf(userId: string | null, email?: string) {
    const [attempt] = await em().find(LoginAttemptSchema, userId ? { userId } : { email: email! }, { orderBy: { createdAt: 'desc' }, limit: 1 });
    return attempt;
  }

  describe('registering, listing, renaming, deleting', () => {
    it('registers a passkey from WebAuthn JSON options (attestation none, resident key and UV required, ES256/EdDSA/RS256), lists it, mails the owner, counts it in getMfaStatus', async () => {
      const ada = await account();
      const started = await startRegistration(ada);
      expect(started.options.rp).to.deep.equal({ id: RP_ID, name: 'Pulse Auth' });
      expect(started.options.attestation).to.equal('none');
      expect(started.options.authenticatorSelection).to.include({ residentKey: 'required', userVerification: 'required' });
      expect(started.options.pubKeyCredParams.map((p: { alg: number }) => p.alg)).to.have.members([-8, -7, -257]);
      expect(started.options.user.name).to.equal(ada.email);
      expect(started.options.excludeCredentials).to.deep.equal([]);
      expect(new Date(started.expiresAt).getTime() - Date.now()).to.be.within(290_000, 301_000);

      const before = app.mail.mails.length;
      const made = ada.authenticator.register(started.options);
      const reply = await app.request('POST', '/v1/me/passkeys', {
        token: ada.token,
        body: { challengeId: started.challengeId, credential: made.json, name: 'Test key' },
      });
      expect(reply.status, reply.text).to.equal(201);
      expect(reply.body).to.include({ name: 'Test key', deviceType: 'singleDevice', backedUp: false, lastUsedAt: null });
      expect(reply.body.transports).to.deep.equal(['internal', 'hybrid']);
      await app.mail.next(ada.email, { subject: /passkey was added/, after: before });

      const listed = await app.request('GET', '/v1/me/passkeys', { token: ada.token });
      expect(listed.status).to.equal(200);
      expect(listed.body.items).to.deep.equal([reply.body]);
      const status = await app.request('GET', '/v1/me/mfa', { token: ada.token });
      expect(status.body.passkeys).to.equal(1);

      // The next registration excludes the passkey the account has, so the authenticator does not make a second one.
      const again = await startRegistration(ada);
      expect(again.options.excludeCredentials.map((c: { id: string }) => c.id)).to.deep.equal([made.json.id]);
    });

    it('asks for a step-up proof before it hands out creation options', async () => {
      const ada = await account();
      failWith(await app.request('POST', '/v1/me/passkeys/options', { token: ada.token, body: {} }), 403, 'reauthentication-required');
      failWith(await app.request('POST', '/v1/me/passkeys/options', { token: ada.token, body: { password: 'not the password' } }), 403, 'reauthentication-required');
      failWith(await app.request('POST', '/v1/me/passkeys/options', { body: {} }), 401, 'authentication-required');
      expect(await em().count(WebauthnChallengeSchema, { userId: ada.userId })).to.equal(0);
    });

    it('renames and deletes a passkey; another account gets 404 for it and changes nothing', async () => {
      const ada = await account();
      const eve = await account();
      const { reply } = await register(ada);
      const id = reply.body.id;

      const renamed = await app.request('PATCH', `/v1/me/passkeys/${id}`, { token: ada.token, body: { name: 'Work laptop' } });
      expect(renamed.status, renamed.text).to.equal(200);
      expect(renamed.body).to.deep.equal({ ...reply.body, name: 'Work laptop' });

      // A name goes into mail: no line breaks or other control characters.
      failWith(await app.request('PATCH', `/v1/me/passkeys/${id}`, { token: ada.token, body: { name: 'Work\nVisit https://evil.example' } }), 400, 'validation-failed');
      const before = await stateOf(ada.userId);
      failWith(await app.request('PATCH', `/v1/me/passkeys/${id}`, { token: eve.token, body: { name: 'Mine now' } }), 404, 'not-found');
      failWith(await app.request('DELETE', `/v1/me/passkeys/${id}`, { token: eve.token }), 404, 'not-found');
      expect(await stateOf(ada.userId)).to.equal(before);

      const deleted = await app.request('DELETE', `/v1/me/passkeys/${id}`, { token: ada.token });
      expect(deleted.status).to.equal(204);
      expect((await app.request('GET', '/v1/me/passkeys', { token: ada.token })).body.items).to.deep.equal([]);
      // A deleted passkey no longer signs in.
      const start = await startSignIn();
      failWith(await finishSignIn(start.challengeId, ada.authenticator.authenticate(start.options)), 401, 'passkey-sign-in-failed');
      expect(await lastAttemptOf(null, '')).to.include({ reason: 'unknown-passkey', userId: null });
    });

    it('never deletes the last way in: an account without a password keeps its only passkey', async () => {
      const ada = await account();
      const first = (await register(ada)).reply.body;
      const second = (await register(ada)).reply.body;
      await em().nativeUpdate(UserSchema, { id: ada.userId }, { passwordHash: null });

      expect((await app.request('DELETE', `/v1/me/passkeys/${first.id}`, { token: ada.token })).status).to.equal(204);
      failWith(await app.request('DELETE', `/v1/me/passkeys/${second.id}`, { token: ada.token }), 409, 'last-sign-in-method');
      expect((await app.request('GET', '/v1/me/passkeys', { token: ada.token })).body.items.map((p: { id: string }) => p.id)).to.deep.equal([second.id]);
    });
  });

  describe('refused registrations change nothing', () => {
    async function refusedRegistration(who: Account, body: (started: { challengeId: string; options: any }) => unknown, status: number, code: string) {
      const started = await startRegistration(who);
      const before = await stateOf(who.userId);
      const reply = await app.request('POST', '/v1/me/passkeys', { token: who.token, body: body(started) });
      failWith(reply, status, code);
      expect(await stateOf(who.userId)).to.equal(before);
      return started;
    }

    it('a replayed challenge', async () => {
      const ada = await account();
      const started = await startRegistration(ada);
      const made = ada.authenticator.register(started.options);
      expect((await app.request('POST', '/v1/me/passkeys', { token: ada.token, body: { challengeId: started.challengeId, credential: made.json } })).status).to.equal(201);
      const before = await stateOf(ada.userId);
      // A new credential answering the spent challenge.
      const other = ada.authenticator.register(started.options);
      failWith(await app.request('POST', '/v1/me/passkeys', { token: ada.token, body: { challengeId: started.challengeId, credential: other.json } }), 400, 'passkey-challenge-invalid');
      expect(await stateOf(ada.userId)).to.equal(before);
    });

    it('an expired challenge (5 minutes, on the fake clock)', async () => {
      const ada = await account();
      await refusedRegistration(
        ada,
        (started) => {
          app.clock.advance(301);
          return { challengeId: started.challengeId, credential: ada.authenticator.register(started.options).json };
        },
        400,
        'passkey-challenge-invalid',
      );
    });

    it("another user's challenge", async () => {
      const ada = await account();
      const eve = await account();
      const adas = await startRegistration(ada);
      const before = await stateOf(eve.userId);
      const made = eve.authenticator.register(adas.options);
      failWith(await app.request('POST', '/v1/me/passkeys', { token: eve.token, body: { challengeId: adas.challengeId, credential: made.json } }), 400, 'passkey-challenge-invalid');
      expect(await stateOf(eve.userId)).to.equal(before);
      // Ada's own ceremony still finishes.
      const own = ada.authenticator.register(adas.options);
      expect((await app.request('POST', '/v1/me/passkeys', { token: ada.token, body: { challengeId: adas.challengeId, credential: own.json } })).status).to.equal(201);
    });

    for (const [what, bend] of [
      ['a wrong origin', { origin: 'http://evil.test' }],
      ['a wrong RP ID hash', { rpId: 'evil.test' }],
      ['a missing UV flag', { flags: FLAG_UP | FLAG_AT }],
      ['a sign-in answer instead of a registration', { type: 'webauthn.get' }],
    ] as Array<[string, Bend]>) {
      it(what, async () => {
        const ada = await account();
        await refusedRegistration(ada, (started) => ({ challengeId: started.challengeId, credential: ada.authenticator.register(started.options, bend).json }), 400, 'passkey-registration-failed');
      });
    }

    it('a credential registered twice, to the same account or to another', async () => {
      const ada = await account();
      const eve = await account();
      const { credential } = await register(ada);
      await refusedRegistration(ada, (started) => ({ challengeId: started.challengeId, credential: ada.authenticator.register(started.options, {}, credential).json }), 409, 'passkey-already-registered');
      // Eve presents Ada's credential (its ID and key) as her own.
      await refusedRegistration(eve, (started) => ({ challengeId: started.challengeId, credential: ada.authenticator.register(started.options, {}, credential).json }), 409, 'passkey-already-registered');
      expect(await em().count(PasskeySchema, { credentialId: Buffer.from(credential.id).toString('base64url') })).to.equal(1);
    });
  });

  describe('signing in', () => {
    it('signs in through the same path as a password: a token response, the attempt and login history (method passkey), the audit event, a last-used date', async () => {
      const ada = await account();
      const { reply: registered } = await register(ada);
      const start = await startSignIn();
      expect(start.options).to.include({ rpId: RP_ID, userVerification: 'required' });
      expect(start.options.allowCredentials ?? []).to.deep.equal([]);

      const signedIn = await finishSignIn(start.challengeId, ada.authenticator.authenticate(start.options));
      expect(signedIn.status, signedIn.text).to.equal(200);
      expect(signedIn.body).to.include({ outcome: 'signed-in', mfaRequired: false });
      expect(signedIn.body.user.id).to.equal(ada.userId);
      expect(signedIn.body.refreshToken).to.be.a('string');
      const me = await app.request('GET', '/v1/me', { token: signedIn.body.accessToken });
      expect(me.status).to.equal(200);

      const history = await app.request('GET', '/v1/me/login-history', { token: signedIn.body.accessToken });
      expect(history.body.items[0].method).to.equal('passkey');
      expect(await lastAttemptOf(ada.userId)).to.include({ outcome: 'success', method: 'passkey' });
      const [event] = await em().find(AuditEventSchema, { action: 'user.signed-in', actorUserId: ada.userId }, { orderBy: { createdAt: 'desc' }, limit: 1 });
      expect(event.details).to.include({ operationId: 'finishPasskeySignIn', method: 'passkey' });

      const listed = (await app.request('GET', '/v1/me/passkeys', { token: ada.token })).body.items;
      expect(listed[0].id).to.equal(registered.body.id);
      expect(listed[0].lastUsedAt).to.be.a('string');
      const stored = await em().findOneOrFail(PasskeySchema, { id: registered.body.id });
      expect(stored.counter).to.equal(1);
    });

    it('asks no second factor of an account that has one on (user verification made it multi-factor)', async () => {
      const ada = await account();
      await register(ada);
      await em().nativeUpdate(UserSchema, { id: ada.userId }, { emailOtpEnabledAt: new Date() });
      const start = await startSignIn();
      const signedIn = await finishSignIn(start.challengeId, ada.authenticator.authenticate(start.options));
      expect(signedIn.status, signedIn.text).to.equal(200);
      expect(signedIn.body.outcome).to.equal('signed-in');
    });

    it('mails the owner about a sign-in from a device the account has not used', async () => {
      const ada = await account();
      await register(ada);
      const before = app.mail.mails.length;
      const start = await startSignIn();
      const signedIn = await finishSignIn(start.challengeId, ada.authenticator.authenticate(start.options), {
        'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
      });
      expect(signedIn.status).to.equal(200);
      await app.mail.next(ada.email, { subject: /New sign-in/, after: before });
    });

    describe('refusals: 401 passkey-sign-in-failed, and nothing changed', () => {
      /** Registers a passkey for a fresh account, then runs one refused sign-in and checks that nothing moved. */
      async function refusedSignIn(answer: (who: Account, options: any) => unknown, reason: string, prepare?: (who: Account) => Promise<void>) {
        const ada = await account();
        await register(ada);
        await prepare?.(ada);
        const start = await startSignIn();
        const credential = answer(ada, start.options);
        const before = await stateOf(ada.userId);
        const reply = await finishSignIn(start.challengeId, credential);
        failWith(reply, 401, 'passkey-sign-in-failed');
        // Which check failed is not said.
        expect(reply.body.detail).to.equal('Start the passkey sign-in again.');
        expect(await stateOf(ada.userId)).to.equal(before);
        expect(await lastAttemptOf(ada.userId)).to.include({ outcome: 'failure', reason, method: 'passkey' });
        return ada;
      }

      it('a replayed challenge (the same answer again, and a fresh answer to the spent challenge)', async () => {
        const ada = await account();
        await register(ada);
        const start = await startSignIn();
        const answer = ada.authenticator.authenticate(start.options);
        expect((await finishSignIn(start.challengeId, answer)).status).to.equal(200);
        const before = await stateOf(ada.userId);
        failWith(await finishSignIn(start.challengeId, answer), 401, 'passkey-sign-in-failed');
        failWith(await finishSignIn(start.challengeId, ada.authenticator.authenticate(start.options)), 401, 'passkey-sign-in-failed');
        expect(await stateOf(ada.userId)).to.equal(before);
        expect(await lastAttemptOf(ada.userId)).to.include({ outcome: 'failure', reason: 'passkey-challenge' });
      });

      it('an expired challenge (the fake clock moves 5 minutes on)', async () => {
        await refusedSignIn((who, options) => {
          app.clock.advance(301);
          return who.authenticator.authenticate(options);
        }, 'passkey-challenge');
      });

      it('a registration challenge used for a sign-in', async () => {
        const ada = await account();
        await register(ada);
        const registration = await startRegistration(ada);
        const before = await stateOf(ada.userId);
        failWith(await finishSignIn(registration.challengeId, ada.authenticator.authenticate({ challenge: registration.options.challenge, rpId: RP_ID })), 401, 'passkey-sign-in-failed');
        expect(await stateOf(ada.userId)).to.equal(before);
      });

      it('a wrong origin', async () => {
        await refusedSignIn((who, options) => who.authenticator.authenticate(options, undefined, { origin: 'http://evil.test' }), 'passkey-verification');
      });

      it('a wrong RP ID hash', async () => {
        await refusedSignIn((who, options) => who.authenticator.authenticate(options, undefined, { rpId: 'evil.test' }), 'passkey-verification');
      });

      it('a missing UV flag', async () => {
        await refusedSignIn((who, options) => who.authenticator.authenticate(options, undefined, { flags: FLAG_UP }), 'passkey-verification');
      });

      it('a signature by another key', async () => {
        const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        await refusedSignIn((who, options) => who.authenticator.authenticate(options, undefined, { signWith: privateKey }), 'passkey-verification');
      });

      it('a right signature in a loose DER spelling (bytes after it, another outer tag): one signature has one spelling', async () => {
        const loosen = (answer: ReturnType<SoftwareAuthenticator['authenticate']>, change: (sig: Buffer) => Buffer) => ({
          ...answer,
          response: { ...answer.response, signature: change(Buffer.from(answer.response.signature, 'base64url')).toString('base64url') },
        });
        await refusedSignIn((who, options) => loosen(who.authenticator.authenticate(options), (sig) => Buffer.concat([sig, Buffer.from([0])])), 'passkey-verification');
        await refusedSignIn(
          (who, options) =>
            loosen(who.authenticator.authenticate(options), (sig) => {
              const copy = Buffer.from(sig);
              copy[0] ^= 0x80;
              return copy;
            }),
          'passkey-verification',
        );
      });

      it("another user's credential presented with this user's handle", async () => {
        const eve = await account();
        await register(eve);
        await refusedSignIn((who, options) => who.authenticator.authenticate(options, undefined, { userHandle: eve.authenticator.credentials[0].userHandle }), 'passkey-verification');
      });

      it('a rewound counter: refused, and the audit event of a cloned authenticator', async () => {
        const ada = await refusedSignIn(
          (who, options) => who.authenticator.authenticate(options, undefined, { counter: 3 }),
          'passkey-counter',
          async (who) => {
            const start = await startSignIn();
            expect((await finishSignIn(start.challengeId, who.authenticator.authenticate(start.options, undefined, { counter: 7 }))).status).to.equal(200);
          },
        );
        const [event] = await em().find(AuditEventSchema, { action: 'passkey.counter-rewound', targetUserId: ada.userId });
        expect(event, 'audit event').to.not.equal(undefined);
        expect(event.details).to.include({ storedCounter: 7 });
        // The same counter again is no more a step forward than a lower one.
        const start = await startSignIn();
        failWith(await finishSignIn(start.challengeId, ada.authenticator.authenticate(start.options, undefined, { counter: 7 })), 401, 'passkey-sign-in-failed');
      });

      it('an unknown credential', async () => {
        const stranger = new SoftwareAuthenticator(ORIGIN);
        stranger.register({ challenge: 'AAAA', rp: { id: RP_ID, name: 'x' }, user: { id: 'AAAA', name: 'x', displayName: 'x' }, pubKeyCredParams: [{ alg: -7 }] });
        const start = await startSignIn();
        const before = await em().count(SessionSchema, {});
        failWith(await finishSignIn(start.challengeId, stranger.authenticate(start.options)), 401, 'passkey-sign-in-failed');
        expect(await em().count(SessionSchema, {})).to.equal(before);
      });

      it('a passkey of a deleted account (as unknown: the attempt names no account)', async () => {
        const ada = await account();
        await register(ada);
        await em().nativeUpdate(UserSchema, { id: ada.userId }, { deletedAt: new Date() });
        const start = await startSignIn();
        const before = await stateOf(ada.userId);
        failWith(await finishSignIn(start.challengeId, ada.authenticator.authenticate(start.options)), 401, 'passkey-sign-in-failed');
        expect(await stateOf(ada.userId)).to.equal(before);
        const [attempt] = await em().find(LoginAttemptSchema, { reason: 'unknown-passkey' }, { orderBy: { createdAt: 'desc' }, limit: 1 });
        expect(attempt).to.include({ userId: null, outcome: 'failure' });
      });
    });

    it('counts failures toward the account lockout like wrong passwords: after LOCKOUT_ACCOUNT_THRESHOLD, the right passkey is 429 too', async () => {
      const locked = await TestServer.start({ LOCKOUT_ACCOUNT_THRESHOLD: '3' });
      try {
        const created = await locked.createUser({ email: uniqueEmail('passkey-lock') });
        const session = await locked.login(created.email, created.password);
        const authenticator = new SoftwareAuthenticator(ORIGIN);
        const started = await locked.request('POST', '/v1/me/passkeys/options', { token: session.accessToken, body: { password: created.password } });
        const made = authenticator.register(started.body.options);
        expect((await locked.request('POST', '/v1/me/passkeys', { token: session.accessToken, body: { challengeId: started.body.challengeId, credential: made.json } })).status).to.equal(201);
        const before = locked.mail.mails.length;
        for (let i = 0; i < 3; i++) {
          const start = await locked.request('POST', '/v1/auth/passkey/options', { body: {} });
          const reply = await locked.request('POST', '/v1/auth/passkey/verify', {
            body: { challengeId: start.body.challengeId, credential: authenticator.authenticate(start.body.options, undefined, { origin: 'http://evil.test' }) },
          });
          failWith(reply, 401, 'passkey-sign-in-failed');
        }
        await locked.mail.next(created.email, { subject: /locked/i, after: before });
        const start = await locked.request('POST', '/v1/auth/passkey/options', { body: {} });
        const reply = await locked.request('POST', '/v1/auth/passkey/verify', { body: { challengeId: start.body.challengeId, credential: authenticator.authenticate(start.body.options) } });
        failWith(reply, 429, 'too-many-failed-attempts');
        expect(reply.headers.get('retry-after')).to.match(/^\d+$/);
      } finally {
        await locked.stop();
      }
    });
  });

  it('the cleanup job removes passkey challenges that were never finished, once expired', async () => {
    const ada = await account();
    await startRegistration(ada);
    const live = await startSignIn();
    const now = app.clock.now();
    const fork = em();
    const counts = await deleteSpentTokens(fork, new Date(now.getTime() + 301_000), 30);
    expect(counts.passkeyChallenges).to.be.greaterThanOrEqual(2);
    expect(await em().count(WebauthnChallengeSchema, { id: live.challengeId })).to.equal(0);
    const fresh = await startSignIn();
    await deleteSpentTokens(em(), app.clock.now(), 30);
    expect(await em().count(WebauthnChallengeSchema, { id: fresh.challengeId })).to.equal(1);
  });

  it('purging an account removes its passkeys', async () => {
    const ada = await account();
    await register(ada);
    const { purgeUsers } = await import('../../src/domain/users/deletion.js');
    await purgeUsers(em(), [ada.userId], new Date());
    expect(await em().count(PasskeySchema, { userId: ada.userId })).to.equal(0);
  });
});
