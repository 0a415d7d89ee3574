import { expect } from 'chai';
import pg from 'pg';
import { TestServer, usingPostgres } from '../helpers/server.js';
import { RecentChanges } from '../../src/domain/cache/recent-changes.js';
import { LiveSessionCache } from '../../src/domain/cache/live-session-cache.js';

/**
 * The caches on the authentication path (verified tokens, live sessions, account views): each test first shows the
 * cache was in use (its hit count moved), then that a change is honoured at once anyway.
 */
describe('authentication caches', () => {
  describe('on one instance', () => {
    let app: TestServer;
    before(async () => {
      app = await TestServer.start();
    });
    after(() => app.stop());

    const hits = () => app.services.invalidations.stats.hits;
    const getMe = (token: string) => app.request('GET', '/v1/me', { token });

    async function signedInAndCached() {
      const account = await app.createUser();
      const tokens = await app.login(account.email, account.password);
      expect((await getMe(tokens.accessToken)).status).to.equal(200);
      const before = hits();
      expect((await getMe(tokens.accessToken)).status).to.equal(200);
      expect(hits(), 'the second getMe was answered from the caches').to.be.greaterThan(before);
      return { account, tokens };
    }

    it('refuses a cached token at once when its session signs out', async () => {
      const { tokens } = await signedInAndCached();
      expect((await app.request('POST', '/v1/auth/logout', { token: tokens.accessToken })).status).to.equal(204);
      const reply = await getMe(tokens.accessToken);
      expect(reply.status).to.equal(401);
      expect(reply.headers.get('www-authenticate')).to.match(/^Bearer /);
    });

    it('refuses a cached token at once when another device ends its session, or the password changes', async () => {
      const { account, tokens } = await signedInAndCached();
      const other = await app.login(account.email, account.password);
      expect((await app.request('DELETE', `/v1/me/sessions/${tokens.session.id}`, { token: other.accessToken })).status).to.equal(204);
      expect((await getMe(tokens.accessToken)).status).to.equal(401);

      expect((await getMe(other.accessToken)).status).to.equal(200);
      const third = await app.login(account.email, account.password);
      expect((await getMe(third.accessToken)).status).to.equal(200);
      const changed = await app.request('POST', '/v1/auth/password/change', {
        token: other.accessToken,
        body: { currentPassword: account.password, newPassword: 'another perfectly fine passphrase' },
      });
      expect(changed.status, changed.text).to.be.oneOf([200, 204]);
      expect((await getMe(third.accessToken)).status, 'other sessions end with a password change').to.equal(401);
      expect((await getMe(other.accessToken)).status, 'the session that changed it stays').to.equal(200);
    });

    it('shows a changed name and a new updatedAt at once', async () => {
      const { account, tokens } = await signedInAndCached();
      const before = (await getMe(tokens.accessToken)).body;
      app.clock.advance(2);
      expect((await app.request('PATCH', '/v1/me', { token: tokens.accessToken, body: { name: 'Renamed' } })).status).to.equal(200);
      const after = (await getMe(tokens.accessToken)).body;
      expect(after.name).to.equal('Renamed');
      expect(after.updatedAt).not.to.equal(before.updatedAt);

      // A change made by a native update (enabling email codes) moves updatedAt too.
      app.clock.advance(2);
      expect((await app.request('PUT', '/v1/me/mfa/email', { token: tokens.accessToken, body: { password: account.password } })).status).to.equal(200);
      expect((await getMe(tokens.accessToken)).body.updatedAt).not.to.equal(after.updatedAt);
    });

    it('refuses a cached token once it expires, and a tampered copy of it at any time', async () => {
      const { tokens } = await signedInAndCached();
      const [header, payload, signature] = tokens.accessToken.split('.');
      const flipped = signature[5] === 'A' ? 'B' : 'A';
      const tampered = `${header}.${payload}.${signature.slice(0, 5)}${flipped}${signature.slice(6)}`;
      expect((await getMe(tampered)).status).to.equal(401);
      app.clock.advance(app.services.config.ACCESS_TOKEN_TTL + 1);
      try {
        const reply = await getMe(tokens.accessToken);
        expect(reply.status).to.equal(401);
        expect(reply.body.detail).to.match(/expired/);
      } finally {
        app.clock.advance(-(app.services.config.ACCESS_TOKEN_TTL + 1));
      }
    });

    it('refuses a cached token at once when an administrator locks the account', async () => {
      const admin = await app.createUser();
      await app.services.orm.em.fork().nativeUpdate('User', { email: admin.email }, { role: 'admin' });
      const adminTokens = await app.login(admin.email, admin.password);
      const { tokens } = await signedInAndCached();
      const locked = await app.request('PATCH', `/v1/admin/users/${tokens.user.id}`, { token: adminTokens.accessToken, body: { locked: true } });
      expect(locked.status, locked.text).to.equal(200);
      expect((await getMe(tokens.accessToken)).status).to.equal(401);
    });
  });

  describe('what a cache may remember around a change', () => {
    it('does not keep a read that started before, or settles just after, a revocation', () => {
      const changes = new RecentChanges();
      const cache = new LiveSessionCache(changes);
      const now = new Date();
      const expires = new Date(now.getTime() + 60_000);
      const readStarted = performance.now();
      changes.mark('s:session-1'); // revoked while the read was under way
      cache.remember('session-1', 'user-1', expires, readStarted);
      expect(cache.isLive('session-1', 'user-1', now)).to.equal(undefined);
      // A read that starts after the announcement, but before the revoking transaction may have committed.
      cache.remember('session-1', 'user-1', expires, performance.now());
      expect(cache.isLive('session-1', 'user-1', now)).to.equal(undefined);
      // Another session of another user is remembered, and only for its own user, and only until it expires.
      cache.remember('session-2', 'user-2', expires, performance.now());
      expect(cache.isLive('session-2', 'user-2', now)).to.equal(true);
      expect(cache.isLive('session-2', 'user-1', now)).to.equal(undefined);
      cache.remember('session-2', 'user-2', expires, performance.now());
      expect(cache.isLive('session-2', 'user-2', expires)).to.equal(undefined);
    });
  });

  (usingPostgres ? describe : describe.skip)('on two instances sharing PostgreSQL (LISTEN/NOTIFY)', () => {
    let first: TestServer;
    let second: TestServer;
    before(async () => {
      first = await TestServer.start();
      second = await TestServer.start({ DATABASE_URL: process.env.TEST_DATABASE_URL! });
    });
    after(async () => {
      await second?.stop();
      await first?.stop();
    });

    /** Polls until `check` holds; a NOTIFY crosses instances in milliseconds, so a second is plenty. */
    async function soon(check: () => Promise<boolean>, what: string) {
      const deadline = Date.now() + 1_000;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`not within 1 s: ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }

    async function cachedOnSecond() {
      const account = await first.createUser();
      const tokens = await first.login(account.email, account.password);
      expect((await second.request('GET', '/v1/me', { token: tokens.accessToken })).status).to.equal(200);
      const before = second.services.invalidations.stats.hits;
      expect((await second.request('GET', '/v1/me', { token: tokens.accessToken })).status).to.equal(200);
      expect(second.services.invalidations.stats.hits).to.be.greaterThan(before);
      return { account, tokens };
    }

    it('ends a session on the other instance as soon as it signs out on this one', async () => {
      const { tokens } = await cachedOnSecond();
      expect((await first.request('POST', '/v1/auth/logout', { token: tokens.accessToken })).status).to.equal(204);
      await soon(async () => (await second.request('GET', '/v1/me', { token: tokens.accessToken })).status === 401, 'the second instance refuses the token');
    });

    it('shows a name changed on one instance on the other', async () => {
      const { tokens } = await cachedOnSecond();
      expect((await first.request('PATCH', '/v1/me', { token: tokens.accessToken, body: { name: 'Changed elsewhere' } })).status).to.equal(200);
      await soon(async () => (await second.request('GET', '/v1/me', { token: tokens.accessToken })).body.name === 'Changed elsewhere', 'the new name');
    });

    it('stops trusting its caches while it cannot hear the others, and trusts them again once it can', async () => {
      const { tokens } = await cachedOnSecond();
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      try {
        // Cut every listening connection (both instances', named by their application_name): the NOTIFY of the sign-out below reaches no one.
        await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pulse-auth-listener'");
        await soon(async () => !second.services.invalidations.cachesOn, 'the second instance turns its caches off');
        expect((await first.request('POST', '/v1/auth/logout', { token: tokens.accessToken })).status).to.equal(204);
        expect((await second.request('GET', '/v1/me', { token: tokens.accessToken })).status).to.equal(401);
        const deadline = Date.now() + 10_000;
        while (!second.services.invalidations.cachesOn) {
          if (Date.now() > deadline) throw new Error('the listener did not come back within 10 s');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await cachedOnSecond();
      } finally {
        await admin.end();
      }
    });
  });
});
