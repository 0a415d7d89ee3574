import { expect } from 'chai';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, generateKeyPair, exportJWK } from 'jose';
import { TestServer, refreshCookie, uniqueEmail } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

describe('sign-in and sessions (login, refreshTokens, logout, logoutAll)', () => {
  let app: TestServer;
  let account: { email: string; password: string };
  before(async () => {
    app = await TestServer.start({ REFRESH_REUSE_GRACE: '10' });
    account = await app.createUser({ name: 'Grace' });
  });
  after(() => app.stop());

  describe('login', () => {
    it('answers wrong passwords and unknown emails alike', async () => {
      const wrong = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'not the password' } });
      const unknown = await app.request('POST', '/v1/auth/login', { body: { email: uniqueEmail(), password: 'not the password' } });
      failWith(wrong, 401, 'invalid-credentials');
      expect(unknown.status).to.equal(401);
      const strip = ({ requestId, ...rest }: Record<string, unknown>) => rest;
      expect(strip(wrong.body)).to.deep.equal(strip(unknown.body));
    });

    it('puts the refresh token in an HttpOnly, SameSite=Strict cookie scoped to the auth paths by default', async () => {
      const reply = await app.request('POST', '/v1/auth/login', {
        body: { email: account.email, password: account.password },
        headers: { 'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0' },
      });
      expect(reply.status).to.equal(200);
      expect(reply.body).not.to.have.property('refreshToken');
      expect(reply.body).to.include({ tokenType: 'Bearer', expiresIn: 900 });
      expect(reply.body.user.email).to.equal(account.email);
      expect(reply.body.session).to.include({ current: true, deviceType: 'desktop', browser: 'Firefox 133' });
      const cookie = refreshCookie(reply.headers)!;
      expect(cookie).to.match(/HttpOnly/i).and.match(/SameSite=Strict/i).and.match(/Path=\/v1\/auth/);
      expect(cookie).not.to.match(/Secure/i); // the public URL of the test server is http
      expect(reply.headers.get('cache-control')).to.equal('no-store');
    });

    it('returns the refresh token in the body when asked, with no cookie', async () => {
      const reply = await app.request('POST', '/v1/auth/login', {
        body: { email: account.email, password: account.password, refreshTokenDelivery: 'body' },
      });
      expect(reply.body.refreshToken).to.be.a('string').with.length.greaterThanOrEqual(43); // 256 bits, base64url
      expect(refreshCookie(reply.headers)).to.equal(undefined);
    });

    it('issues an access token that other services verify through the JWKS', async () => {
      const { accessToken, session, user } = await app.login(account.email, account.password);
      const jwks = await app.request('GET', '/.well-known/jwks.json');
      expect(JSON.stringify(jwks.body)).not.to.match(/"d"/); // no private members
      const { payload, protectedHeader } = await jwtVerify(accessToken, createLocalJWKSet(jwks.body), {
        issuer: 'http://pulse-auth.test',
        audience: 'http://pulse-auth.test',
      });
      expect(protectedHeader).to.include({ alg: 'EdDSA', typ: 'at+jwt' });
      expect(protectedHeader.kid).to.equal(jwks.body.keys[0].kid);
      expect(payload).to.include({ sub: user.id, sid: session.id, role: 'user' });
      expect(payload.jti).to.be.a('string');
      expect(payload.exp! - payload.iat!).to.equal(900);
    });

    it('gives each of several concurrent logins its own session', async () => {
      const replies = await Promise.all(Array.from({ length: 5 }, () => app.login(account.email, account.password)));
      expect(new Set(replies.map((r) => r.session.id)).size).to.equal(5);
      for (const reply of replies) expect((await app.request('GET', '/v1/me', { token: reply.accessToken })).status).to.equal(200);
    });

    it('re-hashes the password on login when BCRYPT_COST has changed', async () => {
      const { UserSchema } = await import('../../src/db/entities.js');
      const stored = async () =>
        (await app.services.orm.em.fork().findOneOrFail(UserSchema, { email: account.email }, { populate: ['passwordHash'] })).passwordHash!;
      expect(await stored()).to.match(/^hmac-sha256:\$2b\$04\$/);
      const stronger = await TestServer.start({ BCRYPT_COST: '5', DATABASE_URL: app.services.config.DATABASE_URL });
      try {
        // A second app on the same database, configured with a higher cost.
        await stronger.login(account.email, account.password);
      } finally {
        await stronger.stop();
      }
      expect(await stored()).to.match(/^hmac-sha256:\$2b\$05\$/);
    });
  });

  describe('access tokens', () => {
    it('refuses an expired token with 401 and WWW-Authenticate', async () => {
      const { accessToken } = await app.login(account.email, account.password);
      app.clock.advance(901);
      try {
        const reply = await app.request('GET', '/v1/me', { token: accessToken });
        failWith(reply, 401, 'invalid-access-token');
        expect(reply.headers.get('www-authenticate')).to.match(/^Bearer .*error="invalid_token"/);
      } finally {
        app.clock.advance(-901);
      }
    });

    it('refuses tokens that are unsigned, tampered with or signed by a foreign key', async () => {
      const { accessToken } = await app.login(account.email, account.password);
      const [header, payload, signature] = accessToken.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${payload}.`;
      const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url')}.${signature}`;
      const foreignKey = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const foreign = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: decodeProtectedHeader(accessToken).kid, jwk: await exportJWK(foreignKey.publicKey) })
        .sign(foreignKey.privateKey);
      for (const token of [none, tampered, foreign, 'not-a-jwt']) {
        const reply = await app.request('GET', '/v1/me', { token });
        expect(reply.status, token.slice(0, 20)).to.equal(401);
        expect(reply.headers.get('www-authenticate')).to.match(/^Bearer/);
      }
    });

    it('asks for a token when there is none', async () => {
      const reply = await app.request('GET', '/v1/me');
      failWith(reply, 401, 'authentication-required');
    });
  });

  describe('refreshTokens', () => {
    it('rotates a body-delivered refresh token: new tokens, same session, the old token is spent', async () => {
      const first = await app.login(account.email, account.password);
      const rotated = await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: first.refreshToken } });
      expect(rotated.status).to.equal(200);
      expect(rotated.body.session.id).to.equal(first.session.id);
      expect(rotated.body.refreshToken).to.be.a('string').and.not.equal(first.refreshToken);
      expect((await app.request('GET', '/v1/me', { token: rotated.body.accessToken })).status).to.equal(200);
      const next = await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: rotated.body.refreshToken } });
      expect(next.status).to.equal(200);
    });

    it('rotates the cookie when the token came in the cookie', async () => {
      const login = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } });
      const cookie = refreshCookie(login.headers)!.split(';')[0];
      const reply = await app.request('POST', '/v1/auth/refresh', { headers: { cookie } });
      expect(reply.status).to.equal(200);
      expect(reply.body).not.to.have.property('refreshToken');
      const next = refreshCookie(reply.headers)!.split(';')[0];
      expect(next).not.to.equal(cookie);
      expect((await app.request('POST', '/v1/auth/refresh', { headers: { cookie: next } })).status).to.equal(200);
    });

    it('gives refreshes sent at the same moment (inside the grace window) the same successor, without a second chain', async () => {
      const { refreshToken } = await app.login(account.email, account.password);
      const replies = await Promise.all(
        Array.from({ length: 10 }, () => app.request('POST', '/v1/auth/refresh', { body: { refreshToken } })),
      );
      expect(replies.map((r) => r.status)).to.deep.equal(Array(10).fill(200));
      expect(new Set(replies.map((r) => r.body.refreshToken)).size).to.equal(1);
      expect(new Set(replies.map((r) => r.body.session.id)).size).to.equal(1);
    });

    it('ends the session when a rotated token is replayed after the grace window', async () => {
      const login = await app.login(account.email, account.password);
      const rotated = await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: login.refreshToken } });
      app.clock.advance(11);
      const replay = await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: login.refreshToken } });
      failWith(replay, 401, 'invalid-refresh-token');
      // The thief's replay also ends the legitimate holder's session: both tokens now fail.
      expect((await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: rotated.body.refreshToken } })).status).to.equal(401);
      expect((await app.request('GET', '/v1/me', { token: rotated.body.accessToken })).status).to.equal(401);
    });

    it('refuses unknown, missing and expired refresh tokens', async () => {
      expect((await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: 'made-up' } })).status).to.equal(401);
      expect((await app.request('POST', '/v1/auth/refresh', { body: {} })).status).to.equal(401);
      const { refreshToken } = await app.login(account.email, account.password);
      app.clock.advance(app.services.config.REFRESH_TOKEN_TTL + 1);
      try {
        expect((await app.request('POST', '/v1/auth/refresh', { body: { refreshToken } })).status).to.equal(401);
      } finally {
        app.clock.advance(-(app.services.config.REFRESH_TOKEN_TTL + 1));
      }
    });
  });

  describe('logout and logoutAll', () => {
    it('ends the current session: its access token fails at once and its refresh token is dead', async () => {
      const other = await app.login(account.email, account.password);
      const mine = await app.login(account.email, account.password);
      const reply = await app.request('POST', '/v1/auth/logout', { token: mine.accessToken });
      expect(reply.status).to.equal(204);
      expect(refreshCookie(reply.headers)).to.match(/Expires=Thu, 01 Jan 1970/);
      expect((await app.request('GET', '/v1/me', { token: mine.accessToken })).status).to.equal(401);
      expect((await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: mine.refreshToken } })).status).to.equal(401);
      expect((await app.request('GET', '/v1/me', { token: other.accessToken })).status).to.equal(200);
    });

    it('signs out with only the refresh cookie when the access token has gone', async () => {
      const login = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } });
      const cookie = refreshCookie(login.headers)!.split(';')[0];
      expect((await app.request('POST', '/v1/auth/logout', { headers: { cookie } })).status).to.equal(204);
      expect((await app.request('GET', '/v1/me', { token: login.body.accessToken })).status).to.equal(401);
      expect((await app.request('POST', '/v1/auth/logout', { headers: { cookie } })).status).to.equal(401);
    });

    it('ends every session of the user with logoutAll, and no one else\'s', async () => {
      const stranger = await app.createUser();
      const strangerTokens = await app.login(stranger.email, stranger.password);
      const sessions = await Promise.all([1, 2, 3].map(() => app.login(account.email, account.password)));
      expect((await app.request('POST', '/v1/auth/logout-all', { token: sessions[0].accessToken })).status).to.equal(204);
      for (const session of sessions) {
        expect((await app.request('GET', '/v1/me', { token: session.accessToken })).status).to.equal(401);
        expect((await app.request('POST', '/v1/auth/refresh', { body: { refreshToken: session.refreshToken } })).status).to.equal(401);
      }
      expect((await app.request('GET', '/v1/me', { token: strangerTokens.accessToken })).status).to.equal(200);
    });
  });
});
