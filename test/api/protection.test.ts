import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { BlockedIpSchema, LoginAttemptSchema } from '../../src/db/entities.js';
import { TestServer, uniqueEmail, usingPostgres } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

/** The counter stores this run can exercise: memory always, the database on PostgreSQL, Redis when given one. */
const stores: Array<{ store: string; env: Record<string, string> }> = [
  { store: 'memory', env: {} },
  ...(usingPostgres ? [{ store: 'database', env: {} }] : []),
  ...(process.env.TEST_REDIS_URL ? [{ store: 'redis', env: { REDIS_URL: process.env.TEST_REDIS_URL } }] : []),
];
if (!process.env.TEST_REDIS_URL) console.log('Lockout tests against Redis are skipped (set TEST_REDIS_URL=redis://127.0.0.1:6379 to run them)');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const prefix = () => `t${randomBytes(4).toString('hex')}`;

for (const { store, env } of stores) {
  describe(`account lockout (counters in ${store})`, () => {
    let app: TestServer;
    before(async () => {
      app = await TestServer.start({
        ...env,
        RATE_LIMIT_STORE: store,
        RATE_LIMIT_KEY_PREFIX: prefix(),
        LOCKOUT_ACCOUNT_THRESHOLD: '5',
        LOCKOUT_ACCOUNT_SECONDS: '2',
        LOCKOUT_IP_THRESHOLD: '1000',
      });
    });
    after(() => app.stop());

    it('checks at most the threshold of 30 parallel wrong passwords, then refuses even the right one until the lock ends', async () => {
      const account = await app.createUser();
      const before = app.mail.mails.length;
      const replies = await Promise.all(
        Array.from({ length: 30 }, (_, i) => app.request('POST', '/v1/auth/login', { body: { email: account.email, password: `wrong guess ${i}` } })),
      );
      const checked = replies.filter((r) => r.status === 401).length;
      expect(checked).to.be.at.most(5);
      expect(replies.filter((r) => r.status === 429)).to.have.length(30 - checked);
      const failures = await app.services.orm.em.fork().count(LoginAttemptSchema, { email: account.email, outcome: 'failure' });
      expect(failures).to.be.at.most(5);

      const right = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } });
      failWith(right, 429, 'too-many-failed-attempts');
      expect(Number(right.headers.get('retry-after'))).to.be.within(1, 2);

      const mail = await app.mail.next(account.email, { subject: /locked/, after: before });
      expect(mail.text).to.match(/locked for/);

      await sleep(2_100);
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } })).status).to.equal(200);
    });

    it('forgets earlier failures after a successful sign-in', async () => {
      const account = await app.createUser();
      for (let i = 0; i < 4; i += 1) await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'wrong guess' } });
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } })).status).to.equal(200);
      for (let i = 0; i < 4; i += 1) {
        expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'wrong guess' } })).status).to.equal(401);
      }
    });

    it('locks an unknown email exactly like a known one', async () => {
      const known = await app.createUser();
      const unknown = uniqueEmail('nobody');
      const lock = async (email: string) => {
        for (let i = 0; i < 5; i += 1) await app.request('POST', '/v1/auth/login', { body: { email, password: 'wrong guess' } });
        return app.request('POST', '/v1/auth/login', { body: { email, password: 'wrong guess' } });
      };
      const [a, b] = [await lock(known.email), await lock(unknown)];
      expect(a.status).to.equal(429);
      expect(b.status).to.equal(429);
      const strip = ({ requestId, detail, ...rest }: Record<string, unknown>) => rest;
      expect(strip(a.body)).to.deep.equal(strip(b.body));
    });
  });
}

describe('IP blocking, trusted proxies and per-account limits', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start({
      TRUST_PROXY: 'true',
      LOCKOUT_IP_THRESHOLD: '3',
      LOCKOUT_IP_SECONDS: '60',
      LOCKOUT_ACCOUNT_THRESHOLD: '100',
      RATE_LIMIT_ACCOUNT_PER_HOUR: '3',
    });
  });
  after(() => app.stop());

  const from = (ip: string) => ({ 'x-forwarded-for': `198.51.100.99, ${ip}` });

  it('blocks an IP after repeated failures across accounts, for every account, and records the block', async () => {
    const victim = await app.createUser();
    for (let i = 0; i < 3; i += 1) {
      const reply = await app.request('POST', '/v1/auth/login', { body: { email: uniqueEmail(), password: 'spray guess' }, headers: from('203.0.113.5') });
      expect(reply.status).to.equal(401);
    }
    const blocked = await app.request('POST', '/v1/auth/login', { body: { email: victim.email, password: victim.password }, headers: from('203.0.113.5') });
    failWith(blocked, 429, 'too-many-failed-attempts');
    const elsewhere = await app.request('POST', '/v1/auth/login', { body: { email: victim.email, password: victim.password }, headers: from('203.0.113.6') });
    expect(elsewhere.status).to.equal(200);

    const [row] = await app.services.orm.em.fork().find(BlockedIpSchema, { ip: '203.0.113.5' });
    expect(row).to.include({ failures: 3, unblockedAt: null });
    expect(row.expiresAt.getTime() - row.blockedAt.getTime()).to.equal(60_000);
  });

  it('takes the client IP from the address the proxy appended, not from what the client wrote', async () => {
    const account = await app.createUser();
    const login = await app.login(account.email, account.password, 'body', from('192.0.2.44'));
    const sessions = await app.request('GET', '/v1/me/sessions', { token: login.accessToken });
    expect(sessions.body.items.find((s: { id: string }) => s.id === login.session.id).ip).to.equal('192.0.2.44');
  });

  it('limits requests per account across IPs', async () => {
    const account = await app.createUser();
    const statuses = [];
    for (let i = 0; i < 4; i += 1) {
      statuses.push((await app.request('POST', '/v1/auth/password/forgot', { body: { email: account.email }, headers: from(`192.0.2.${i + 1}`) })).status);
    }
    expect(statuses).to.deep.equal([202, 202, 202, 429]);
  });
});

describe('without TRUST_PROXY', () => {
  it('ignores X-Forwarded-For', async () => {
    const app = await TestServer.start({ TRUST_PROXY: 'false' });
    try {
      const account = await app.createUser();
      const login = await app.login(account.email, account.password, 'body', { 'x-forwarded-for': '192.0.2.44' });
      const sessions = await app.request('GET', '/v1/me/sessions', { token: login.accessToken });
      expect(sessions.body.items[0].ip).to.match(/127\.0\.0\.1/);
    } finally {
      await app.stop();
    }
  });
});

describe('when Redis is down', () => {
  it('keeps serving with per-instance limits, and reports itself ready but degraded', async () => {
    // Nothing listens on port 1: every Redis command fails at once.
    const app = await TestServer.start({ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_STORE: 'redis', LOCKOUT_ACCOUNT_THRESHOLD: '2', LOCKOUT_ACCOUNT_SECONDS: '60' });
    try {
      const account = await app.createUser();
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } })).status).to.equal(200);
      for (let i = 0; i < 2; i += 1) await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'wrong guess' } });
      const locked = await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } });
      expect(locked.status).to.equal(429);
      // Without Redis the instance still serves: a balancer must keep sending it traffic.
      const ready = await app.request('GET', '/ready');
      expect(ready.status).to.equal(200);
      expect(ready.body).to.deep.equal({ status: 'degraded', checks: { database: 'ok', redis: 'unavailable' } });
      const metrics = await app.request('GET', '/metrics');
      expect(metrics.text).to.match(/^pulse_dependency_up\{dependency="redis"\} 0$/m);
      expect(metrics.text).to.match(/^pulse_dependency_up\{dependency="database"\} 1$/m);
      // One warning for the outage, however many probes see it.
      for (let i = 0; i < 5; i += 1) await app.request('GET', '/ready');
      const warnings = app.logLines().filter((line) => line.msg?.startsWith('readiness: redis'));
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.include({ level: 40 }).and.not.have.property('err');
    } finally {
      await app.stop();
    }
  });
});
