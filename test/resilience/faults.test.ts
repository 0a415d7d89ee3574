import { randomBytes } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import pg from 'pg';
import { isDatabaseUnavailable } from '../../src/db/connection-errors.js';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { OutboxMailSchema, PendingRegistrationSchema, UserSchema } from '../../src/db/entities.js';
import { openDatabase, type Orm } from '../../src/db/orm.js';
import { TestServer, uniqueEmail, usingPostgres } from '../helpers/server.js';
import { resetPostgres } from '../helpers/postgres.js';
import { MailCatcher, tokenFrom } from '../helpers/mail-catcher.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { freePort, startServerProcess, temporaryDirectory, type ServerProcess } from '../multi-instance/processes.js';
import { failWith } from '../helpers/assertions.js';

const password = 'a perfectly fine passphrase';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface TimedReply {
  status: number;
  contentType: string | null;
  body: any;
  ms: number;
}

/**
 * A request that measures its own time and does not go through TestServer.request: while a dependency is down the
 * answer is a 503 the spec documents only for getReadiness (its problem catalogue lists `service-unavailable` for
 * every operation), so the shape is checked here instead.
 */
async function timed(baseUrl: string, method: string, path: string, options: { body?: unknown; token?: string } = {}): Promise<TimedReply> {
  const started = Date.now();
  const response = await fetch(baseUrl + path, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  const contentType = response.headers.get('content-type');
  return { status: response.status, contentType, body: /json/.test(contentType ?? '') ? JSON.parse(text) : text, ms: Date.now() - started };
}

function expectServiceUnavailable(reply: TimedReply, what: string, boundMs: number) {
  expect(reply.status, `${what}: ${JSON.stringify(reply.body)}`).to.equal(503);
  expect(reply.contentType, what).to.match(/^application\/problem\+json/);
  expect(reply.body, what).to.include({ code: 'service-unavailable', status: 503 });
  expect(reply.ms, `${what} took ${reply.ms} ms`).to.be.below(boundMs);
}

describe('faults: PostgreSQL goes away mid-run and comes back', function () {
  if (!usingPostgres) {
    it('is pending: PostgreSQL only (set TEST_DATABASE_URL=postgres://... to run it)');
    return;
  }
  // The pool gives up opening a connection after 3 s (src/db/orm.ts); a request makes one attempt before it
  // answers, so 5 s bounds every answer while the database is away, with room for a loaded machine.
  const boundMs = 5_000;
  let proxy: TcpProxy;
  let app: TestServer;

  before(async () => {
    const real = process.env.TEST_DATABASE_URL!;
    await resetPostgres(real);
    proxy = await TcpProxy.forUrl(real, 5432).listen();
    app = await TestServer.start({ DATABASE_URL: proxy.urlFor(real) });
  });
  after(async () => {
    await app?.stop();
    await proxy?.close();
  });

  for (const mode of ['reset', 'hang'] as const) {
    const how = mode === 'reset' ? 'stopped (connections reset)' : 'unreachable (connections never answered)';
    it(`answers 503 service-unavailable fast while the database is ${how}, and serves again once it is back`, async () => {
      const account = await app.createUser();
      const { accessToken } = await app.login(account.email, account.password);
      const newcomer = uniqueEmail('while-down');

      proxy.stop(mode);
      const ready = await timed(app.baseUrl, 'GET', '/ready');
      expectServiceUnavailable(ready, 'GET /ready', boundMs);
      const [me, ...replies] = await Promise.all([
        timed(app.baseUrl, 'GET', '/v1/me', { token: accessToken }),
        // Operations that cannot answer without the database.
        timed(app.baseUrl, 'GET', '/v1/me/sessions', { token: accessToken }),
        timed(app.baseUrl, 'POST', '/v1/auth/login', { body: { email: account.email, password: account.password } }),
        timed(app.baseUrl, 'POST', '/v1/auth/register', { body: { email: newcomer, password } }),
      ]);
      // getMe may answer from a cache of the session and the user for a while; if it does not, it fails fast too.
      if (me.status === 200) expect(me.body.email).to.equal(account.email);
      else expectServiceUnavailable(me, 'getMe', boundMs);
      const names = ['listMySessions', 'login', 'register'];
      replies.forEach((reply, i) => expectServiceUnavailable(reply, names[i], boundMs));
      // Still down: a second round fails just as fast (nothing is left waiting in the pool's queue).
      expectServiceUnavailable(
        await timed(app.baseUrl, 'POST', '/v1/auth/login', { body: { email: account.email, password: account.password } }),
        'login (second round)',
        boundMs,
      );

      proxy.start();
      expect((await app.request('GET', '/ready')).status).to.equal(200);
      expect((await app.request('GET', '/v1/me', { token: accessToken })).body.email).to.equal(account.email);
      expect((await app.request('GET', '/v1/me/sessions', { token: accessToken })).status).to.equal(200);
      await app.login(account.email, account.password);
      expect((await app.request('POST', '/v1/auth/register', { body: { email: newcomer, password } })).status).to.equal(202);
      const mail = await app.mail.next(newcomer, { subject: /Confirm/ });
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token: tokenFrom(mail), password } })).status).to.equal(200);
      await app.login(newcomer, password);

      // The outage was logged without any secret in it.
      const logs = app.logText();
      for (const secret of [account.password, accessToken]) expect(logs).not.to.include(secret);
    });
  }
});

describe('faults: SMTP goes away mid-run and comes back', () => {
  let catcher: MailCatcher;
  let proxy: TcpProxy;
  let app: TestServer;

  before(async () => {
    catcher = new MailCatcher();
    proxy = await new TcpProxy('127.0.0.1', await catcher.start()).listen();
    app = await TestServer.start({ SMTP_URL: `smtp://127.0.0.1:${proxy.port}`, MAIL_RETRY_SECONDS: '30', MAIL_MAX_ATTEMPTS: '5' });
  });
  after(async () => {
    await app?.stop();
    await proxy?.close();
    await catcher?.stop();
  });

  it('accepts every registration while SMTP is unreachable and delivers each queued mail exactly once after it returns', async () => {
    // A working start: mail flows through the proxy.
    const first = uniqueEmail('smtp-before');
    expect((await app.request('POST', '/v1/auth/register', { body: { email: first, password } })).status).to.equal(202);
    await catcher.next(first);

    proxy.stop();
    const emails = Array.from({ length: 6 }, () => uniqueEmail('smtp-down'));
    const replies = await Promise.all(emails.map((email) => app.request('POST', '/v1/auth/register', { body: { email, password } })));
    expect(replies.map((reply) => reply.status)).to.deep.equal(emails.map(() => 202));
    await app.services.mailer.idle();
    const outbox = () => app.services.orm.em.fork().find(OutboxMailSchema, { recipient: { $in: emails } });
    const queued = await outbox();
    expect(queued).to.have.length(emails.length);
    for (const mail of queued) {
      expect(mail.sentAt, mail.recipient).to.equal(null);
      expect(mail.attempts, mail.recipient).to.be.at.least(1);
      expect(mail.lastError, mail.recipient).to.be.a('string');
    }
    for (const email of emails) expect(catcher.count(email), email).to.equal(0);

    // Due again, but SMTP is still away: another failed attempt, nothing lost, nothing given up.
    app.clock.advance(31);
    await app.services.mailer.deliverDue();
    expect((await outbox()).filter((mail) => mail.sentAt !== null || mail.failedAt !== null)).to.deep.equal([]);

    proxy.start();
    // Retries back off (30 s, then 60 s): advance the clock past them and run delivery until the outbox is empty.
    for (let round = 0; round < 5 && (await outbox()).some((mail) => mail.sentAt === null); round += 1) {
      app.clock.advance(120);
      await app.services.mailer.deliverDue();
    }
    await app.services.mailer.idle();
    expect((await outbox()).filter((mail) => mail.sentAt === null).map((mail) => mail.recipient)).to.deep.equal([]);
    // Overlapping and later runs send nothing more.
    app.clock.advance(600);
    await Promise.all([app.services.mailer.deliverDue(), app.services.mailer.deliverDue()]);
    for (const email of emails) expect(catcher.count(email), email).to.equal(1);
    for (const email of emails) {
      const mail = await catcher.next(email, { subject: /Confirm/ });
      expect((await app.request('POST', '/v1/auth/verify-email', { body: { token: tokenFrom(mail), password } })).status, email).to.equal(200);
    }
  });
});

describe('faults: Redis goes away mid-run and comes back', function () {
  const redisUrl = process.env.TEST_REDIS_URL;
  if (!redisUrl) {
    it('is pending: needs Redis (set TEST_REDIS_URL=redis://127.0.0.1:6379 to run it)');
    return;
  }
  const prefix = `r1faults${randomBytes(4).toString('hex')}`;
  let proxy: TcpProxy;
  let app: TestServer;
  let peer: TestServer;
  let inspector: Redis;
  const counterKeys = async () => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await inspector.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return keys;
  };
  const lockout = { RATE_LIMIT_STORE: 'redis', RATE_LIMIT_KEY_PREFIX: prefix, LOCKOUT_ACCOUNT_THRESHOLD: '2', LOCKOUT_ACCOUNT_SECONDS: '600' };
  const login = (server: TestServer, email: string, pass: string) => server.request('POST', '/v1/auth/login', { body: { email, password: pass } });
  const readyWithin = async (server: TestServer, status: number, ms: number) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const reply = await server.request('GET', '/ready');
      if (reply.status === status || Date.now() > deadline) return reply;
      await sleep(100);
    }
  };

  before(async () => {
    proxy = await TcpProxy.forUrl(redisUrl, 6379).listen();
    app = await TestServer.start({ ...lockout, REDIS_URL: proxy.urlFor(redisUrl) });
    // A second instance on the same Redis (not through the proxy): it sees whatever the first one counts there.
    peer = await TestServer.start({ ...lockout, REDIS_URL: redisUrl });
    inspector = new Redis(redisUrl);
  });
  after(async () => {
    if (inspector) {
      const keys = await counterKeys();
      if (keys.length) await inspector.del(...keys);
      inspector.disconnect();
    }
    await app?.stop();
    await peer?.stop();
    await proxy?.close();
  });

  const readyStatusWithin = async (server: TestServer, status: string, ms: number) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const reply = await server.request('GET', '/ready');
      if (reply.body?.status === status || Date.now() > deadline) return reply;
      await sleep(100);
    }
  };

  it('keeps sign-in working with per-instance limits and stays ready (degraded) while Redis is away, and counts in Redis again once it is back', async () => {
    const account = await app.createUser();
    expect((await readyWithin(app, 200, 5_000)).body.status).to.equal('ok');
    expect((await login(app, account.email, account.password)).status).to.equal(200);

    proxy.stop();
    const ready = await readyStatusWithin(app, 'degraded', 5_000);
    expect(ready.status).to.equal(200);
    expect(ready.body).to.deep.equal({ status: 'degraded', checks: { database: 'ok', redis: 'unavailable' } });
    const keysBefore = (await counterKeys()).length;
    // Sign-in keeps working...
    expect((await login(app, account.email, account.password)).status).to.equal(200);
    // ...and the lockout still holds, in this instance's memory.
    const unlucky = uniqueEmail('redis-down');
    for (let i = 0; i < 2; i += 1) expect((await login(app, unlucky, 'wrong guess')).status).to.equal(401);
    expect((await login(app, unlucky, 'wrong guess')).status).to.equal(429);
    // Nothing of it reached Redis: the other instance does not know the lock.
    expect((await counterKeys()).length).to.equal(keysBefore);
    expect((await login(peer, unlucky, 'wrong guess')).status).to.equal(401);

    proxy.start();
    // ioredis reconnects with a backoff of at most 2 s.
    expect((await readyStatusWithin(app, 'ok', 10_000)).body).to.deep.equal({ status: 'ok', checks: { database: 'ok', redis: 'ok' } });
    expect((await login(app, account.email, account.password)).status).to.equal(200);
    // Counters live in Redis again: a lock made through the first instance holds on the second.
    const later = uniqueEmail('redis-back');
    for (let i = 0; i < 2; i += 1) expect((await login(app, later, 'wrong guess')).status).to.equal(401);
    expect((await counterKeys()).length).to.be.above(keysBefore);
    const locked = await login(peer, later, 'wrong guess');
    failWith(locked, 429, 'too-many-failed-attempts');
  });
});

describe('faults: the server is SIGKILLed in the middle of registrations and verifications', () => {
  const catcher = new MailCatcher();
  let databaseUrl: string;
  let env: Record<string, string>;
  let server: ServerProcess | undefined;
  let orm: Orm | undefined;

  before(async () => {
    databaseUrl = usingPostgres ? process.env.TEST_DATABASE_URL! : `file:${temporaryDirectory('pulse-auth-kill-')}/kill.sqlite`;
    if (usingPostgres) await resetPostgres(databaseUrl);
    const smtpPort = await catcher.start();
    env = {
      DATABASE_URL: databaseUrl,
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      PUBLIC_URL: 'http://pulse-auth.test',
      APP_URL: 'http://app.test',
      // Slow enough hashing (one thread) that the kill finds registrations in every stage.
      BCRYPT_COST: '8',
      PASSWORD_HASH_THREADS: '1',
      RATE_LIMIT_PER_MINUTE: '100000',
      RATE_LIMIT_ACCOUNT_PER_HOUR: '100000',
    };
  });
  after(async () => {
    await server?.stop('SIGKILL');
    await orm?.close(true);
    await catcher.stop();
  });

  const post = (path: string, body: unknown) =>
    fetch(server!.baseUrl + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  /** Verifies with the newest link mailed to `email` after the `after`-th mail (older links may arrive late). */
  async function verifyNewest(email: string, after: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    const tried = new Set<string>();
    for (;;) {
      const mails = catcher.mails.slice(after).filter((mail) => mail.to === email && /Confirm/.test(mail.subject)).reverse();
      for (const mail of mails) {
        const token = tokenFrom(mail);
        if (tried.has(token)) continue;
        tried.add(token);
        const reply = await post('/v1/auth/verify-email', { token, password });
        if (reply.status === 200) return;
        expect(reply.status, `verify ${email}`).to.equal(400);
      }
      if (Date.now() > deadline) throw new Error(`no working verification link for ${email}`);
      await catcher.next(email, { subject: /Confirm/, after: catcher.mails.length, timeoutMs: 2_000 }).catch(() => {});
    }
  }

  it('leaves no half-written account, and a restarted server finishes or re-registers every interrupted one', async () => {
    server = await startServerProcess(env);
    // Accounts waiting for their link, whose verification will be in flight when the process dies.
    const waiting = Array.from({ length: 12 }, () => uniqueEmail('kill-verify'));
    const registered = await Promise.all(waiting.map((email) => post('/v1/auth/register', { email, password })));
    expect(registered.map((reply) => reply.status)).to.deep.equal(waiting.map(() => 202));
    const tokens = new Map<string, string>();
    for (const email of waiting) tokens.set(email, tokenFrom(await catcher.next(email, { subject: /Confirm/ })));

    const newcomers = Array.from({ length: 40 }, () => uniqueEmail('kill-register'));
    let answered = 0;
    const inFlight = [
      ...newcomers.map((email) => post('/v1/auth/register', { email, password, name: 'Interrupted' })),
      ...waiting.map((email) => post('/v1/auth/verify-email', { token: tokens.get(email), password })),
    ].map((request) =>
      request.then(
        (reply) => {
          answered += 1;
          return reply.status;
        },
        () => 0,
      ),
    );
    // Kill once a few answers are out: the rest are hashing, in a transaction, or not read yet.
    while (answered < 4) await sleep(5);
    server.child.kill('SIGKILL');
    expect((await server.exited).signal).to.equal('SIGKILL');
    const statuses = await Promise.all(inFlight);
    const interrupted = statuses.filter((status) => status === 0).length;
    expect(interrupted, `statuses: ${statuses.join(',')}`).to.be.above(0);
    // Whatever answered before the kill answered as it should.
    statuses.slice(0, newcomers.length).forEach((status) => expect([0, 202]).to.include(status));
    statuses.slice(newcomers.length).forEach((status) => expect([0, 200]).to.include(status));
    const registeredBeforeKill = newcomers.filter((_, i) => statuses[i] === 202);
    const verifiedBeforeKill = waiting.filter((_, i) => statuses[newcomers.length + i] === 200);

    // What the database holds, read directly.
    orm = await openDatabase(databaseUrl, { migrate: false });
    const em = orm.em.fork();
    const everyone = [...waiting, ...newcomers];
    const users = await em.find(UserSchema, { email: { $in: everyone } }, { populate: ['passwordHash'] });
    const pending = await em.find(PendingRegistrationSchema, { email: { $in: everyone } });
    const confirmMails = await em.find(OutboxMailSchema, { recipient: { $in: everyone }, subject: { $like: '%Confirm%' } });
    const userEmails = new Set(users.map((user) => user.email));
    const pendingEmails = pending.map((row) => row.email);
    // A user always has its credentials, and its pending registration went in the same transaction.
    for (const user of users) {
      expect(user.passwordHash, user.email).to.match(/^hmac-sha256:\$2[aby]\$/);
      expect(pendingEmails, user.email).not.to.include(user.email);
    }
    // A verification is all or nothing: the account is either created or still waiting for its (still valid) link.
    for (const email of waiting) expect(userEmails.has(email) !== pendingEmails.includes(email), email).to.equal(true);
    for (const email of verifiedBeforeKill) expect(userEmails.has(email), email).to.equal(true);
    // A registration is all or nothing: one pending row and its one verification mail, or neither.
    for (const email of newcomers) {
      expect(userEmails.has(email), email).to.equal(false);
      const rows = pendingEmails.filter((candidate) => candidate === email).length;
      const mails = confirmMails.filter((mail) => mail.recipient === email).length;
      expect(rows, email).to.be.at.most(1);
      expect(mails, email).to.equal(rows);
    }
    for (const email of registeredBeforeKill) expect(pendingEmails, email).to.include(email);
    await orm.close(true);
    orm = undefined;

    // The same database, a new process: it starts (migrations already applied), is ready, and everyone gets in.
    server = await startServerProcess(env);
    const ready = await fetch(`${server.baseUrl}/ready`);
    expect(ready.status).to.equal(200);
    for (const email of waiting) {
      const reply = await post('/v1/auth/verify-email', { token: tokens.get(email), password });
      // 200: the interrupted verification's link still works; 400: the account was created before the kill.
      expect(reply.status, email).to.equal(userEmails.has(email) ? 400 : 200);
    }
    const marker = catcher.mails.length;
    const again = await Promise.all(newcomers.map((email) => post('/v1/auth/register', { email, password })));
    expect(again.map((reply) => reply.status)).to.deep.equal(newcomers.map(() => 202));
    await Promise.all(newcomers.map((email) => verifyNewest(email, marker)));
    // One by one: parallel sign-ins from one IP count against the IP's lockout threshold before they are checked.
    for (const email of everyone) expect((await post('/v1/auth/login', { email, password })).status, email).to.equal(200);
    const stopped = await server.stop('SIGTERM');
    expect(stopped.code).to.equal(0);
    server = undefined;
    expect(catcher.mails.map((mail) => mail.text).join('')).not.to.include(password);
  });
});

/** A redis-server of the test's own on a free port, to stop and start again (never the shared one on 6379). */
class ThrowawayRedis {
  private child?: ChildProcess;
  constructor(readonly port: number) {}

  static available(): boolean {
    return spawnSync('redis-server', ['--version']).status === 0;
  }

  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis(this.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 100, maxRetriesPerRequest: null });
    probe.on('error', () => {});
    try {
      await probe.connect().catch(() => undefined);
      await probe.ping();
    } finally {
      probe.disconnect();
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
}

describe('faults: a Redis server is stopped and started again', function () {
  if (!ThrowawayRedis.available()) {
    it('is pending: needs redis-server on the PATH');
    return;
  }
  let redis: ThrowawayRedis;
  let app: TestServer;

  before(async () => {
    redis = new ThrowawayRedis(await freePort());
    await redis.start();
    app = await TestServer.start({ REDIS_URL: `redis://127.0.0.1:${redis.port}`, RATE_LIMIT_STORE: 'redis', LOCKOUT_ACCOUNT_THRESHOLD: '2' });
  });
  after(async () => {
    await app?.stop();
    await redis?.stop();
  });

  const metric = async () => (await app.request('GET', '/metrics')).text.match(/^pulse_dependency_up\{dependency="redis"\} (\d)$/m)?.[1];

  it('stays ready (200, degraded) and serves while Redis is stopped, with one warning and the metric at 0, and is ok again once it is back', async () => {
    const account = await app.createUser();
    expect((await app.request('GET', '/ready')).body).to.deep.equal({ status: 'ok', checks: { database: 'ok', redis: 'ok' } });
    expect(await metric()).to.equal('1');

    await redis.stop();
    // A probe storm: every probe is 200, and the requests behind it are served.
    const probes = await Promise.all(Array.from({ length: 30 }, () => app.request('GET', '/ready')));
    for (const probe of probes) {
      expect(probe.status).to.equal(200);
      expect(probe.body).to.deep.equal({ status: 'degraded', checks: { database: 'ok', redis: 'unavailable' } });
    }
    expect(await metric()).to.equal('0');
    expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } })).status).to.equal(200);
    // The lockout holds in this instance's memory meanwhile.
    const unlucky = uniqueEmail('redis-stopped');
    for (let i = 0; i < 2; i += 1) await app.request('POST', '/v1/auth/login', { body: { email: unlucky, password: 'wrong guess' } });
    failWith(await app.request('POST', '/v1/auth/login', { body: { email: unlucky, password: 'wrong guess' } }), 429, 'too-many-failed-attempts');
    const warnings = app.logLines().filter((line) => line.msg?.startsWith('readiness: redis'));
    expect(warnings, JSON.stringify(warnings)).to.have.length(1);
    expect(warnings[0].level).to.equal(40);
    expect(JSON.stringify(warnings[0])).not.to.match(/\bat \S+ \(|stack/);

    await redis.start();
    const deadline = Date.now() + 10_000;
    let ready = await app.request('GET', '/ready');
    while (ready.body.status !== 'ok' && Date.now() < deadline) {
      await sleep(100);
      ready = await app.request('GET', '/ready');
    }
    expect(ready.body).to.deep.equal({ status: 'ok', checks: { database: 'ok', redis: 'ok' } });
    expect(await metric()).to.equal('1');
    expect(app.logLines().some((line) => line.msg === 'readiness: redis answers again')).to.equal(true);
  });
});

describe('faults: the PostgreSQL connection is cut under load (a server process)', function () {
  if (!usingPostgres) {
    it('is pending: PostgreSQL only (set TEST_DATABASE_URL=postgres://... to run it)');
    return;
  }
  const catcher = new MailCatcher();
  let proxy: TcpProxy;
  let server: ServerProcess;
  let real: string;

  before(async () => {
    real = process.env.TEST_DATABASE_URL!;
    await resetPostgres(real);
    proxy = await TcpProxy.forUrl(real, 5432).listen();
    const smtpPort = await catcher.start();
    server = await startServerProcess({
      DATABASE_URL: proxy.urlFor(real),
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      PUBLIC_URL: 'http://pulse-auth.test',
      BCRYPT_COST: '4',
      RATE_LIMIT_PER_MINUTE: '100000',
      RATE_LIMIT_ACCOUNT_PER_HOUR: '100000',
      LOCKOUT_IP_THRESHOLD: '100000',
      // The counters live in the database that is being cut: an attempt whose points were taken just before a cut
      // cannot always give them back, and four clients signing in one account from one IP would add up to a lock.
      LOCKOUT_ACCOUNT_THRESHOLD: '100000',
      LOG_LEVEL: 'info',
    });
  });
  after(async () => {
    await server?.stop('SIGTERM');
    await proxy?.close();
    await catcher.stop();
  });

  it('answers 503 problem+json with Retry-After (never 500) at the cut and while it lasts, logs only JSON lines, and recovers', async () => {
    const email = uniqueEmail('pg-cut');
    const post = (path: string, body: unknown, token?: string) => timed(server.baseUrl, 'POST', path, { body, token });
    expect((await post('/v1/auth/register', { email, password })).status).to.equal(202);
    const link = tokenFrom(await catcher.next(email, { subject: /Confirm/ }));
    expect((await post('/v1/auth/verify-email', { token: link, password })).status).to.equal(200);
    const { body: session } = await post('/v1/auth/login', { email, password, refreshTokenDelivery: 'body' });

    // Load from eleven clients: sign-ins (a transaction each), getMe, refreshes, session lists, readiness probes.
    const replies: Array<TimedReply & { what: string; headers?: Headers }> = [];
    let running = true;
    let refreshToken = session.refreshToken as string;
    const send = async (what: string, method: string, path: string, options: { body?: unknown; token?: string } = {}) => {
      const response = await fetch(server.baseUrl + path, {
        method,
        headers: { ...(options.body ? { 'content-type': 'application/json' } : {}), ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
        body: options.body ? JSON.stringify(options.body) : undefined,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      const contentType = response.headers.get('content-type');
      const reply = { what, status: response.status, contentType, headers: response.headers, body: /json/.test(contentType ?? '') ? JSON.parse(text) : text, ms: 0 };
      replies.push(reply);
      return reply;
    };
    const workers = [
      ...Array.from({ length: 4 }, () => async () => {
        while (running) await send('login', 'POST', '/v1/auth/login', { body: { email, password } });
      }),
      ...Array.from({ length: 4 }, () => async () => {
        while (running) await send('getMe', 'GET', '/v1/me', { token: session.accessToken });
      }),
      async () => {
        while (running) {
          const reply = await send('refreshTokens', 'POST', '/v1/auth/refresh', { body: { refreshToken } });
          if (reply.status === 200) refreshToken = reply.body.refreshToken;
        }
      },
      async () => {
        while (running) await send('listMySessions', 'GET', '/v1/me/sessions', { token: session.accessToken });
      },
      async () => {
        while (running) {
          await send('getReadiness', 'GET', '/ready');
          await sleep(20);
        }
      },
    ].map((worker) => worker());

    await sleep(1_000);
    proxy.stop('reset');
    await sleep(2_500);
    proxy.start();
    const deadline = Date.now() + 20_000;
    while ((replies.at(-1)?.status !== 200 || (await timed(server.baseUrl, 'GET', '/ready')).status !== 200) && Date.now() < deadline) await sleep(100);
    await sleep(500);
    // What a PostgreSQL shutdown or fail-over does to each connection (57P01 in the middle of queries and
    // transactions), done to this server's own connections only (by application_name), a few times in a row.
    const admin = new pg.Client({ connectionString: real });
    await admin.connect();
    try {
      for (let round = 0; round < 5; round += 1) {
        await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name like 'pulse-auth%'");
        await sleep(300);
      }
    } finally {
      await admin.end();
    }
    while ((replies.at(-1)?.status !== 200 || (await timed(server.baseUrl, 'GET', '/ready')).status !== 200) && Date.now() < deadline + 10_000) await sleep(100);
    await sleep(500);
    running = false;
    await Promise.all(workers);

    const failed = replies.filter((reply) => reply.status >= 400);
    expect(failed.length, 'some requests met the outage').to.be.above(0);
    for (const reply of failed) {
      expect(reply.status, `${reply.what}: ${JSON.stringify(reply.body)}`).to.equal(503);
      expect(reply.contentType, reply.what).to.match(/^application\/problem\+json/);
      expect(reply.body.code, reply.what).to.equal('service-unavailable');
      expect(reply.headers!.get('retry-after'), reply.what).to.match(/^\d+$/);
    }
    // Everything works again.
    expect((await timed(server.baseUrl, 'GET', '/ready')).status).to.equal(200);
    expect((await post('/v1/auth/login', { email, password })).status).to.equal(200);

    const lines = server.output().split('\n').filter((line) => line.trim() !== '');
    for (const line of lines) expect(() => JSON.parse(line), `a log line that is not JSON: ${line}`).not.to.throw();
    const logged = lines.map((line) => JSON.parse(line));
    // Readiness: one warning for the outage (not one per probe), without a stack; one line when it is back.
    const readiness = logged.filter((line) => /^readiness: database/.test(line.msg));
    const probes = replies.filter((reply) => reply.what === 'getReadiness' && reply.status === 503).length;
    expect(probes, 'readiness probes that saw the outage').to.be.above(3);
    // Each outage (the cut, then each round of terminated connections that a probe happened to meet) is one warning
    // followed by one "answers again", never a warning per probe.
    const warnings = readiness.filter((line) => line.level === 40);
    expect(warnings.length, JSON.stringify(readiness)).to.be.within(1, 6).and.below(probes);
    readiness.forEach((line, i) => expect(line.msg, JSON.stringify(readiness)).to.match(i % 2 === 0 ? /does not answer/ : /answers again/));
    expect(readiness.at(-1)!.msg).to.equal('readiness: database answers again');
    for (const line of logged.filter((entry) => entry.level >= 40)) expect(JSON.stringify(line), JSON.stringify(line)).not.to.match(/"stack"/);
    // The LISTEN connection said it went, and that it is back.
    expect(logged.some((line) => /invalidation listener lost its connection/.test(line.msg))).to.equal(true);
    expect(logged.some((line) => /invalidation listener is connected again/.test(line.msg))).to.equal(true);
    expect(server.output()).not.to.include(password);
  });

  it('names its PostgreSQL connections (application_name), the pool and the listener', async () => {
    const client = new pg.Client({ connectionString: real });
    await client.connect();
    try {
      // The listener may still be in its reconnect backoff after the previous test.
      const deadline = Date.now() + 10_000;
      let names: string[] = [];
      do {
        await timed(server.baseUrl, 'GET', '/ready');
        const { rows } = await client.query<{ application_name: string }>('select distinct application_name from pg_stat_activity where datname = current_database()');
        names = rows.map((row) => row.application_name);
        if (names.includes('pulse-auth-listener')) break;
        await sleep(200);
      } while (Date.now() < deadline);
      expect(names).to.include.members(['pulse-auth', 'pulse-auth-listener']);
    } finally {
      await client.end();
    }
  });

  it('cancels a statement that runs past DATABASE_STATEMENT_TIMEOUT_MS, and the app answers it 503, not 500', async () => {
    const orm = await openDatabase(real, { migrate: false, statementTimeoutMs: 200 });
    try {
      const error = await orm.em.getConnection().execute('select pg_sleep(2)').then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(String((error as Error)?.message)).to.match(/statement timeout/);
      expect(isDatabaseUnavailable(error)).to.equal(true);
      const [shown] = await orm.em.getConnection().execute<{ statement_timeout: string }[]>('show statement_timeout');
      expect(shown.statement_timeout).to.equal('200ms');
    } finally {
      await orm.close(true);
    }
  });
});
