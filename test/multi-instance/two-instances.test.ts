import { expect } from 'chai';
import { resetPostgres } from '../helpers/postgres.js';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { MailCatcher, tokenFrom } from '../helpers/mail-catcher.js';
import { responseProblems } from '../helpers/spec-validator.js';
import { runCli, startServerProcess, type CliResult, type ServerProcess } from './processes.js';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js';

const databaseUrl = process.env.TEST_DATABASE_URL;
const redisUrl = process.env.TEST_REDIS_URL;
console.log(
  databaseUrl
    ? `multi-instance tests: two server processes on PostgreSQL (${new URL(databaseUrl).host}), counters in ${redisUrl ? `Redis (${new URL(redisUrl).host})` : 'the database'}`
    : 'multi-instance tests SKIPPED: set TEST_DATABASE_URL=postgres://... (and TEST_REDIS_URL=redis://... for Redis counters) to run them',
);

const PASSWORD = 'a perfectly fine passphrase';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Reply {
  status: number;
  body: any;
  text: string;
}

/** One request to one instance; every response is checked against the spec, as the API tests do. */
async function call(server: ServerProcess, method: string, path: string, options: { body?: unknown; token?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(server.baseUrl + path, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  const contentType = response.headers.get('content-type');
  const body = text && /json/.test(contentType ?? '') ? JSON.parse(text) : text || undefined;
  const problems = responseProblems(method, path.split('?')[0], response.status, contentType, body);
  expect(problems, `${method} ${path} → ${response.status} ${text.slice(0, 300)}`).to.deep.equal([]);
  return { status: response.status, body, text };
}

const shown = (result: CliResult) => `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;

(databaseUrl ? describe : describe.skip)('two instances on one PostgreSQL database behave as one', function () {
  this.timeout(120_000);
  const mail = new MailCatcher();
  let a: ServerProcess;
  let b: ServerProcess;
  let env: Record<string, string>;
  let counter = 0;
  const uniqueEmail = (prefix: string) => `${prefix}-${process.pid}-${Date.now()}-${++counter}@example.com`;

  before(async () => {
    await resetPostgres(databaseUrl!);
    const smtpPort = await mail.start();
    env = {
      DATABASE_URL: databaseUrl!,
      // One issuer and audience for both: they are one service behind one name.
      PUBLIC_URL: 'http://pulse-auth.test',
      APP_URL: 'http://app.test',
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      BCRYPT_COST: '4',
      PASSWORD_HASH_THREADS: '1',
      SIGNING_KEY_PUBLISH_SECONDS: '0',
      REFRESH_REUSE_GRACE: '1',
      LOCKOUT_ACCOUNT_THRESHOLD: '4',
      LOCKOUT_IP_THRESHOLD: '100000',
      RATE_LIMIT_PER_MINUTE: '100000',
      RATE_LIMIT_ACCOUNT_PER_HOUR: '100000',
      ...(redisUrl
        ? { RATE_LIMIT_STORE: 'redis', REDIS_URL: redisUrl, RATE_LIMIT_KEY_PREFIX: `pa-multi-${randomUUID().slice(0, 8)}` }
        : { RATE_LIMIT_STORE: 'database' }),
    };
    // One after the other: the first builds the schema. (Started at once on an empty database, the two can race each
    // other through the same migrations, and one of them then fails to start.)
    a = await startServerProcess(env);
    b = await startServerProcess(env);
  });

  after(async () => {
    const exits = await Promise.all([a?.stop('SIGTERM'), b?.stop('SIGTERM')]);
    await mail.stop();
    // Both shut down cleanly, pool and Redis connection included.
    for (const exit of exits) if (exit) expect(exit, `${a?.output()}\n${b?.output()}`).to.deep.equal({ code: 0, signal: null });
  });

  /** Registers on `on`, verifies with the mailed link on `verifyOn`: a new account. */
  async function createAccount(on: ServerProcess, verifyOn: ServerProcess) {
    const email = uniqueEmail('multi');
    const before = mail.mails.length;
    expect((await call(on, 'POST', '/v1/auth/register', { body: { email, password: PASSWORD } })).status).to.equal(202);
    const message = await mail.next(email, { subject: /Confirm/, after: before, timeoutMs: 20_000 });
    const verified = await call(verifyOn, 'POST', '/v1/auth/verify-email', { body: { token: tokenFrom(message), password: PASSWORD } });
    expect(verified.status, verified.text).to.equal(200);
    return { email, id: verified.body.id as string };
  }

  async function login(on: ServerProcess, email: string, password = PASSWORD) {
    const reply = await call(on, 'POST', '/v1/auth/login', { body: { email, password, refreshTokenDelivery: 'body' } });
    expect(reply.status, reply.text).to.equal(200);
    return reply.body as { accessToken: string; refreshToken: string; session: { id: string }; user: { id: string } };
  }

  it('registers on A, verifies the mailed link on B, signs in on A, and B accepts A\'s access token', async () => {
    const account = await createAccount(a, b);
    const session = await login(a, account.email);
    const me = await call(b, 'GET', '/v1/me', { token: session.accessToken });
    expect(me.status, me.text).to.equal(200);
    expect(me.body).to.include({ id: account.id, email: account.email });
  });

  it('a sign-out on B makes A refuse the access token at once', async () => {
    const account = await createAccount(b, a);
    const session = await login(a, account.email);
    expect((await call(a, 'GET', '/v1/me', { token: session.accessToken })).status).to.equal(200);
    expect((await call(b, 'POST', '/v1/auth/logout', { token: session.accessToken })).status).to.equal(204);
    const after = await call(a, 'GET', '/v1/me', { token: session.accessToken });
    expect(after.status).to.equal(401);
    expect(after.body.code).to.equal('invalid-access-token');
  });

  it('a member removed on B has its organization-scoped token refused on A at once, though A had it cached; the next refresh carries no organization', async () => {
    const owner = await createAccount(a, b);
    const member = await createAccount(b, a);
    const ownerSession = await login(a, owner.email);
    const memberSession = await login(b, member.email);
    const org = await call(a, 'POST', '/v1/orgs', { token: ownerSession.accessToken, body: { name: 'Two Instances Inc.' } });
    expect(org.status, org.text).to.equal(201);
    const before = mail.mails.length;
    expect((await call(a, 'POST', `/v1/orgs/${org.body.id}/invitations`, { token: ownerSession.accessToken, body: { email: member.email, role: 'admin' } })).status).to.equal(201);
    const invitation = await mail.next(member.email, { subject: /Join/, after: before, timeoutMs: 20_000 });
    expect((await call(b, 'POST', '/v1/invitations/accept', { token: memberSession.accessToken, body: { token: tokenFrom(invitation) } })).status).to.equal(200);
    const scoped = await call(a, 'POST', '/v1/me/active-organization', { token: memberSession.accessToken, body: { organizationId: org.body.id } });
    expect(scoped.status, scoped.text).to.equal(200);
    expect(decodeJwt(scoped.body.accessToken)).to.include({ org_id: org.body.id, org_role: 'admin' });
    // Past the 10 s in which a cache keeps nothing read around a change (domain/cache/recent-changes.ts): A caches it.
    await sleep(10_500);
    for (let i = 0; i < 2; i++) expect((await call(a, 'GET', '/v1/me', { token: scoped.body.accessToken })).body.activeOrganization.role).to.equal('admin');

    expect((await call(b, 'DELETE', `/v1/orgs/${org.body.id}/members/${member.id}`, { token: ownerSession.accessToken })).status).to.equal(204);
    const after = await call(a, 'GET', '/v1/me', { token: scoped.body.accessToken });
    expect(after.status, after.text).to.equal(401);
    expect(after.body.code).to.equal('invalid-access-token');
    // The member's session itself lives on; its next refresh has no organization claims.
    const refreshed = await call(a, 'POST', '/v1/auth/refresh', { body: { refreshToken: memberSession.refreshToken } });
    expect(refreshed.status, refreshed.text).to.equal(200);
    expect(decodeJwt(refreshed.body.accessToken)).to.not.have.property('org_id');
  });

  it('a request sent after the sign-out answer is refused on the other instance: 1,000 cycles under load, 0 accepted', async function () {
    this.timeout(600_000);
    const started = Date.now();
    const account = await createAccount(a, b);
    const raw = async (server: ServerProcess, method: string, path: string, token?: string, body?: unknown) => {
      const response = await fetch(server.baseUrl + path, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      await response.arrayBuffer();
      return response.status;
    };
    const signIn = async (on: ServerProcess) => {
      const response = await fetch(on.baseUrl + '/v1/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: account.email, password: PASSWORD, refreshTokenDelivery: 'body' }),
      });
      expect(response.status).to.equal(200);
      return ((await response.json()) as { accessToken: string }).accessToken;
    };
    const cacheHits = async (server: ServerProcess) =>
      Number((await (await fetch(`${server.baseUrl}/metrics`)).text()).match(/^pulse_auth_cache_lookups\{result="hit"\} (\d+)/m)?.[1] ?? 0);

    // 1,000 sessions, half signed in on each instance. A cache does not keep what a read returned within 10 s of a
    // change to the account (domain/cache/recent-changes.ts), and a sign-in touches it: wait that out, so that A's
    // caches really hold the sessions the cycles end.
    const tokens: string[] = [];
    // (Two at a time, plus the background's one later: each sign-in reserves a point of the lockout count before it checks, LOCKOUT_ACCOUNT_THRESHOLD=4.)
    for (let i = 0; i < 1_000; i += 2) tokens.push(...(await Promise.all([signIn(a), signIn(b)])));
    const busy = await signIn(a);
    const signedInAt = Date.now();
    await sleep(10_500);

    // Background load on both instances: cached reads, and sign-ins and sign-outs that send notifications of their own.
    let running = true;
    const background = [
      ...[a, b].map((server) => async () => {
        while (running) await raw(server, 'GET', '/v1/me', busy);
      }),
      async () => {
        while (running) await raw(b, 'POST', '/v1/auth/logout', await signIn(a));
      },
    ].map((loop) => loop());

    const hitsBefore = await cacheHits(a);
    let accepted = 0;
    let cycles = 0;
    const failures: string[] = [];
    // Four clients at once, each: getMe twice on A (the second from A's cache), sign-out on B, then getMe on A.
    await Promise.all(
      [0, 1, 2, 3].map(async (lane) => {
        for (let i = lane; i < tokens.length; i += 4) {
          const token = tokens[i];
          for (const round of [1, 2]) {
            const status = await raw(a, 'GET', '/v1/me', token);
            if (status !== 200) failures.push(`cycle ${i}: getMe ${round} on A answered ${status}`);
          }
          const out = await raw(b, 'POST', '/v1/auth/logout', token);
          if (out !== 204) failures.push(`cycle ${i}: logout on B answered ${out}`);
          const after = await raw(a, 'GET', '/v1/me', token);
          if (after === 200) accepted += 1;
          else if (after !== 401) failures.push(`cycle ${i}: getMe after the sign-out answered ${after}`);
          cycles += 1;
        }
      }),
    );
    running = false;
    await Promise.all(background);
    const hits = (await cacheHits(a)) - hitsBefore;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`      ${cycles} cycles, ${accepted} accepted after the sign-out, ${hits} cache hits on A, ${seconds} s (sign-ins ${((signedInAt - started) / 1000).toFixed(1)} s)`);
    expect(failures.slice(0, 10)).to.deep.equal([]);
    expect(cycles).to.equal(1_000);
    // The cycles went through A's caches (each cycle's second getMe at least), so the sign-out had a cache to beat.
    expect(hits).to.be.at.least(1_000);
    expect(accepted).to.equal(0);
  });

  it('a refresh token is honoured by both instances within the grace window, and one rotated on A is refused as a replay on B after it', async () => {
    const account = await createAccount(a, b);
    const session = await login(a, account.email);
    // Two tabs refreshing at once, one through each instance: one rotates, the other gets the same successor.
    const [onA, onB] = await Promise.all([
      call(a, 'POST', '/v1/auth/refresh', { body: { refreshToken: session.refreshToken } }),
      call(b, 'POST', '/v1/auth/refresh', { body: { refreshToken: session.refreshToken } }),
    ]);
    expect([onA.status, onB.status], `${onA.text}\n${onB.text}`).to.deep.equal([200, 200]);
    expect(onB.body.refreshToken).to.equal(onA.body.refreshToken);

    const rotated = await call(a, 'POST', '/v1/auth/refresh', { body: { refreshToken: onA.body.refreshToken } });
    expect(rotated.status, rotated.text).to.equal(200);
    await sleep(1_200); // REFRESH_REUSE_GRACE=1
    const replay = await call(b, 'POST', '/v1/auth/refresh', { body: { refreshToken: onA.body.refreshToken } });
    expect(replay.status).to.equal(401);
    expect(replay.body.code).to.equal('invalid-refresh-token');
    // The replay ended the session everywhere: its newest refresh token and its access tokens are refused on A.
    expect((await call(a, 'POST', '/v1/auth/refresh', { body: { refreshToken: rotated.body.refreshToken } })).status).to.equal(401);
    expect((await call(a, 'GET', '/v1/me', { token: rotated.body.accessToken })).status).to.equal(401);
  });

  it('a passkey challenge made on one instance is finished on the other, once: registration A → B, sign-in B → A, the same answer to both at once signs in once', async () => {
    const account = await createAccount(a, b);
    const session = await login(a, account.email);
    // The relying party is APP_URL's host (app.test), and its origin the page's.
    const authenticator = new SoftwareAuthenticator('http://app.test');
    const started = await call(a, 'POST', '/v1/me/passkeys/options', { token: session.accessToken, body: { password: PASSWORD } });
    expect(started.status, started.text).to.equal(200);
    const made = authenticator.register(started.body.options);
    const registered = await call(b, 'POST', '/v1/me/passkeys', { token: session.accessToken, body: { challengeId: started.body.challengeId, credential: made.json } });
    expect(registered.status, registered.text).to.equal(201);
    // The challenge is spent on both.
    const again = await call(a, 'POST', '/v1/me/passkeys', { token: session.accessToken, body: { challengeId: started.body.challengeId, credential: made.json } });
    expect(again.status).to.equal(400);
    expect(again.body.code).to.equal('passkey-challenge-invalid');

    const signInStart = await call(b, 'POST', '/v1/auth/passkey/options', { body: {} });
    const assertion = authenticator.authenticate(signInStart.body.options);
    const signedIn = await call(a, 'POST', '/v1/auth/passkey/verify', { body: { challengeId: signInStart.body.challengeId, credential: assertion, refreshTokenDelivery: 'body' } });
    expect(signedIn.status, signedIn.text).to.equal(200);
    expect(signedIn.body.user.id).to.equal(account.id);
    expect((await call(b, 'GET', '/v1/me', { token: signedIn.body.accessToken })).status).to.equal(200);

    // One answer sent to both instances at the same moment, ten times over: each time exactly one signs in.
    for (let round = 0; round < 10; round++) {
      const start = await call(round % 2 ? a : b, 'POST', '/v1/auth/passkey/options', { body: {} });
      const answer = authenticator.authenticate(start.body.options);
      const body = { challengeId: start.body.challengeId, credential: answer, refreshTokenDelivery: 'body' };
      const replies = await Promise.all([call(a, 'POST', '/v1/auth/passkey/verify', { body }), call(b, 'POST', '/v1/auth/passkey/verify', { body })]);
      expect(replies.map((reply) => reply.status).sort(), replies.map((reply) => reply.text).join('\n')).to.deep.equal([200, 401]);
    }
  });

  it('locks an account after LOCKOUT_ACCOUNT_THRESHOLD wrong passwords counted across both instances', async () => {
    const account = await createAccount(a, b);
    const guesses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(i % 2 === 0 ? a : b, 'POST', '/v1/auth/login', { body: { email: account.email, password: `wrong guess number ${i}` } }),
      ),
    );
    const statuses = guesses.map((reply) => reply.status);
    const checked = statuses.filter((status) => status === 401).length;
    const locked = statuses.filter((status) => status === 429).length;
    expect(checked + locked, `statuses ${statuses.join(' ')}`).to.equal(20);
    expect(checked, `wrong passwords actually checked (statuses ${statuses.join(' ')})`).to.be.within(1, 4);
    for (const reply of guesses.filter((guess) => guess.status === 429)) expect(reply.body.code).to.equal('too-many-failed-attempts');

    for (const instance of [a, b]) {
      const right = await call(instance, 'POST', '/v1/auth/login', { body: { email: account.email, password: PASSWORD } });
      expect(right.status, `the right password on ${instance === a ? 'A' : 'B'}`).to.equal(429);
      expect(right.body.code).to.equal('too-many-failed-attempts');
    }
  });

  it('a signing key rotated through A signs A\'s tokens at once, and B accepts them and publishes the key', async () => {
    const account = await createAccount(a, b);
    const promoted = await runCli(['create-admin', account.email], env);
    expect(promoted.code, shown(promoted)).to.equal(0);
    const admin = await login(a, account.email);
    const oldKid = decodeProtectedHeader(admin.accessToken).kid;

    const rotatedAt = Date.now();
    const rotation = await call(a, 'POST', '/v1/admin/signing-keys/rotate', { token: admin.accessToken });
    expect(rotation.status, rotation.text).to.equal(200);
    const newKid = rotation.body.kid as string;
    expect(newKid).not.to.equal(oldKid);

    const after = await login(a, account.email);
    expect(decodeProtectedHeader(after.accessToken).kid, 'the kid of a token A signs after the rotation').to.equal(newKid);
    expect(decodeJwt(after.accessToken).role).to.equal('admin');
    // An instance looks a key it does not know up again at most every 5 s (an unknown kid must not make every request
    // reload); B may have loaded its keys just before the rotation.
    await sleep(Math.max(0, rotatedAt + 5_500 - Date.now()));
    const me = await call(b, 'GET', '/v1/me', { token: after.accessToken });
    expect(me.status, me.text).to.equal(200);
    // A token of the old key stays good until it expires.
    expect((await call(b, 'GET', '/v1/me', { token: admin.accessToken })).status).to.equal(200);
    const jwks = await call(b, 'GET', '/.well-known/jwks.json');
    expect(jwks.body.keys.map((key: { kid: string }) => key.kid)).to.include.members([oldKid, newKid]);
  });

  it('cleanup skips a job another instance is running (its advisory lock is held), and runs it once that ends', async () => {
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query("select pg_advisory_xact_lock(hashtext('pulse-auth:job:delete-expired-registrations'))");
      const whileHeld = await runCli(['cleanup'], env);
      expect(whileHeld.code, shown(whileHeld)).to.equal(0);
      expect(whileHeld.stdout).to.match(/^delete-expired-registrations\s+skipped\b/m);
      expect(whileHeld.stdout).to.match(/^delete-spent-tokens\s+resetTokens=\d+/m);
      await holder.query('COMMIT');
      const released = await runCli(['cleanup'], env);
      expect(released.code, shown(released)).to.equal(0);
      expect(released.stdout).to.match(/^delete-expired-registrations\s+registrations=\d+$/m);
    } finally {
      await holder.end();
    }
  });
});
