/**
 * `npm run bench`: Pulse Auth against a bare Koa app, on this machine, in one run.
 *
 *   npm run bench                      # SQLite in a temporary folder
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench npm run bench   # EMPTIES that database first
 *   npm run bench -- --duration 5 --skip-large
 *
 * Scenarios: the baseline, getMe, refreshTokens, login (against the hashing ceiling measured here), getHealth p99
 * while login saturates the hashing pool, register; then, unless --skip-large, the same getMe and login with
 * 100,000 accounts and 1,000,000 sign-in attempts in the database, and getMe while the cleanup deletes 100,000
 * expired registrations; and getMe with organization-scoped tokens and listOrganizationMembers, with 100
 * organizations (1,000 memberships) and then, unless --skip-large, 10,000 organizations (100,000 memberships).
 * Prints a table and writes JSON to bench/results/ (ignored by git).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import { passwordDigest } from '../src/domain/passwords/hasher.js';
import { resetPostgres } from '../test/helpers/postgres.js';
import { freePort } from '../test/multi-instance/processes.js';
import { ADMIN_EMAIL, BENCH_PASSWORD, BENCH_WEBHOOK_KEY, BenchDatabase, benchEmail } from './seed.js';
import { createServer } from 'node:http';
import { json, jsonHeaders, runLoad, type LoadResult } from './load.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    'skip-large': { type: 'boolean', default: false },
    only: { type: 'string', default: 'getMe,refreshTokens,login,register,orgs,webhooks,large' },
  },
});
const DURATION = Number(args.duration);
const SCENARIOS = new Set(args.only!.split(','));
const want = (scenario: string) => SCENARIOS.has(scenario);
const CONNECTIONS = Number(args.connections);
const BCRYPT_COST = Number(process.env.BENCH_BCRYPT_COST ?? 10);
const HASH_THREADS = Number(process.env.BENCH_HASH_THREADS ?? availableParallelism());
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
const USERS = 1_000;
const SIGNED_IN = 200;
const LARGE_USERS = 100_000;
const LARGE_ATTEMPTS = 1_000_000;
const EXPIRED_REGISTRATIONS = 100_000;
/** Members of each bench organization: USERS / ORG_MEMBERS organizations in the small database, LARGE_USERS / ORG_MEMBERS (10,000 with 100,000 memberships) in the large one. */
const ORG_MEMBERS = 10;

interface Row extends Partial<LoadResult> {
  scenario: string;
  cpuMsPerRequest?: number;
  /** The process's peak RSS so far, when this scenario ended. */
  peakRssMb?: number;
  ratio?: number;
  ratioTo?: string;
  note?: string;
}
const rows: Row[] = [];
const log = (message: string) => process.stderr.write(`· ${message}\n`);

// ---------------------------------------------------------------------------------------------------------------
// Processes

interface Child {
  process: ChildProcess;
  baseUrl: string;
  output: () => string;
}

/** Every process the run started: none may outlive it, whatever happens. */
const children = new Set<ChildProcess>();
process.on('exit', () => children.forEach((child) => child.kill('SIGKILL')));

/** Starts `node <args>`; TypeScript files (the baseline) through tsx, Pulse Auth compiled (dist/, `npm run build`). */
async function startChild(args: string[], env: Record<string, string>, ready: (output: string) => string | undefined): Promise<Child> {
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', join(root, 'bench/results/profiles')] : [];
  const nodeOptions = (process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
  const loader = args[0].endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...profile, ...nodeOptions, ...loader, ...args], { cwd: root, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env } });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let output = '';
  child.stdout!.on('data', (chunk) => (output = (output + chunk).slice(-200_000)));
  child.stderr!.on('data', (chunk) => (output = (output + chunk).slice(-200_000)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const baseUrl = ready(output);
    if (baseUrl) return { process: child, baseUrl, output: () => output };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`child did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stopChild(child: Child) {
  if (child.process.exitCode !== null) return;
  child.process.kill('SIGTERM');
  await once(child.process, 'exit');
}

/** CPU seconds (user + system, all threads) the process has used so far. */
function cpuSeconds(child: Child): number {
  const fields = readFileSync(`/proc/${child.process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Runs a load against `child` and adds the server's CPU time per request: a figure other processes cannot skew. */
async function measured(child: Child, load: Promise<LoadResult>): Promise<LoadResult & { cpuMsPerRequest: number; peakRssMb: number }> {
  const before = cpuSeconds(child);
  const result = await load;
  return { ...result, cpuMsPerRequest: ((cpuSeconds(child) - before) * 1000) / Math.max(result.requests, 1), peakRssMb: peakRssMb(child) };
}

/** The peak resident set of a process so far (Linux: VmHWM), in MB. */
function peakRssMb(child: Child): number {
  const status = readFileSync(`/proc/${child.process.pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

const BENCH_METRICS_TOKEN = 'bench-metrics-token-0123456789';

/**
 * An SMTP server that accepts every mail and keeps nothing: production refuses the development outbox, and the
 * benchmark's sign-ups queue mail like real ones.
 */
async function startMailSink(): Promise<{ url: string; close(): Promise<void> }> {
  const { SMTPServer } = await import('smtp-server');
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('end', () => callback());
      stream.resume();
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `smtp://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** The V8 flags of `npm start` (package.json): the server runs here as production starts it. */
const PRODUCTION_NODE_FLAGS = /^exec node (.*)dist\/server\.js$/.exec(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start)![1].split(' ').filter(Boolean);

/** Milliseconds from spawning the server to its first `/health` 200, of the last start. */
let startUpMs: number | undefined;

async function startPulseAuth(databaseUrl: string, dataDir: string, smtpUrl: string): Promise<Child> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const spawned = performance.now();
  const child = await startChild(
    [...PRODUCTION_NODE_FLAGS, 'dist/server.js'],
    {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      PUBLIC_URL: baseUrl,
      DATABASE_URL: databaseUrl,
      MAIL_DEV_DIR: join(dataDir, 'mail'),
      SMTP_URL: smtpUrl,
      BCRYPT_COST: String(BCRYPT_COST),
      PASSWORD_HASH_THREADS: String(HASH_THREADS),
      LOG_LEVEL,
      // All load comes from 127.0.0.1 and signs in to a few hundred accounts over and over: the limits that would
      // (rightly) stop that are raised. Everything else runs as in production.
      RATE_LIMIT_PER_MINUTE: '100000000',
      RATE_LIMIT_ACCOUNT_PER_HOUR: '100000000',
      // The cleanup under load is started by the benchmark, at a known moment, not by the schedule.
      SCHEDULED_JOBS: 'false',
      // Required in production; the benchmark reads the event-loop figures from /metrics with it.
      METRICS_TOKEN: BENCH_METRICS_TOKEN,
      // The webhooks scenario's receivers listen on 127.0.0.1.
      WEBHOOK_SECRET_KEY: BENCH_WEBHOOK_KEY,
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    },
    () => baseUrl,
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    const healthy = await fetch(`${baseUrl}/health`).then((response) => response.ok, () => false);
    if (healthy) break;
    if (child.process.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  startUpMs = performance.now() - spawned;
  for (;;) {
    const ready = await fetch(`${baseUrl}/ready`).then((response) => response.ok, () => false);
    if (ready) return child;
    if (child.process.exitCode !== null || Date.now() > deadline) throw new Error(`server did not become ready:\n${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios

interface Tokens {
  accessTokens: string[];
  refreshTokens: string[];
}

async function signIn(baseUrl: string, emails: string[]): Promise<Tokens> {
  const tokens: Tokens = { accessTokens: [], refreshTokens: [] };
  for (let index = 0; index < emails.length; index += 8) {
    const replies = await Promise.all(
      emails.slice(index, index + 8).map(async (email) => {
        const response = await fetch(`${baseUrl}/v1/auth/login`, {
          method: 'POST',
          headers: jsonHeaders,
          body: json({ email, password: BENCH_PASSWORD, refreshTokenDelivery: 'body' }),
        });
        if (response.status !== 200) throw new Error(`sign-in of ${email} answered ${response.status}: ${await response.text()}`);
        return (await response.json()) as { accessToken: string; refreshToken: string };
      }),
    );
    for (const reply of replies) {
      tokens.accessTokens.push(reply.accessToken);
      tokens.refreshTokens.push(reply.refreshToken);
    }
  }
  return tokens;
}

function getMe(baseUrl: string, tokens: Tokens, options: { duration?: number; until?: Promise<unknown> } = {}) {
  let next = 0;
  return runLoad({
    url: baseUrl,
    connections: CONNECTIONS,
    ...options,
    expectStatus: 200,
    request: () => ({ path: '/v1/me', headers: { authorization: `Bearer ${tokens.accessTokens[next++ % tokens.accessTokens.length]}` } }),
  });
}

/**
 * Every request rotates, as real clients do: a refresh token is taken from the pool of live chains, and its
 * successor goes back when the answer comes. (autocannon gives each request a fresh context, so the chains cannot
 * live there.) With more chains than connections, a free one is always there.
 */
function refresh(baseUrl: string, tokens: Tokens) {
  const free = [...tokens.refreshTokens];
  return runLoad({
    url: baseUrl,
    connections: Math.min(CONNECTIONS, Math.floor(tokens.refreshTokens.length / 2)),
    duration: DURATION,
    expectStatus: 200,
    request: () => ({ method: 'POST', path: '/v1/auth/refresh', headers: jsonHeaders, body: json({ refreshToken: free.shift() }) }),
    onResponse: (status, body) => {
      if (status === 200) free.push((JSON.parse(body) as { refreshToken: string }).refreshToken);
    },
  });
}

/**
 * Makes each token's session active in its account's first organization (setActiveOrganization): the new access
 * tokens carry org_id and org_role. Returns them with each one's organization id.
 */
async function scopeToOrganizations(baseUrl: string, tokens: Tokens): Promise<{ accessTokens: string[]; refreshTokens: string[]; orgIds: string[] }> {
  const scoped = { accessTokens: [] as string[], refreshTokens: tokens.refreshTokens, orgIds: [] as string[] };
  for (const token of tokens.accessTokens) {
    const authorization = { authorization: `Bearer ${token}` };
    const mine = (await (await fetch(`${baseUrl}/v1/orgs?limit=1`, { headers: authorization })).json()) as { items: { id: string }[] };
    if (!mine.items[0]) throw new Error('bench: a signed-in account has no organization');
    const response = await fetch(`${baseUrl}/v1/me/active-organization`, { method: 'POST', headers: { ...authorization, ...jsonHeaders }, body: json({ organizationId: mine.items[0].id }) });
    if (response.status !== 200) throw new Error(`setActiveOrganization answered ${response.status}: ${await response.text()}`);
    scoped.accessTokens.push(((await response.json()) as { accessToken: string }).accessToken);
    scoped.orgIds.push(mine.items[0].id);
  }
  return scoped;
}

function listMembers(baseUrl: string, scoped: { accessTokens: string[]; orgIds: string[] }, options: { duration?: number } = {}) {
  let next = 0;
  return runLoad({
    url: baseUrl,
    connections: CONNECTIONS,
    duration: options.duration ?? DURATION,
    expectStatus: 200,
    request: () => {
      const index = next++ % scoped.accessTokens.length;
      return { path: `/v1/orgs/${scoped.orgIds[index]}/members`, headers: { authorization: `Bearer ${scoped.accessTokens[index]}` } };
    },
  });
}

/** getMe with org-scoped tokens, then listOrganizationMembers; `against` holds the small database's figures. */
async function organizationScenarios(server: Child, tokens: Tokens, label: string, against?: { me: LoadResult; members: LoadResult }) {
  const scoped = await scopeToOrganizations(server.baseUrl, tokens);
  // Choosing the active organization is a change to the session: for 10 s no cache keeps what was read around it
  // (domain/cache/recent-changes.ts). Sessions change their organization rarely; measure them as they mostly are.
  await new Promise((resolve) => setTimeout(resolve, 10_500));
  await getMe(server.baseUrl, scoped, { duration: 2 });
  const me = await measured(server, getMe(server.baseUrl, scoped, { duration: DURATION }));
  record({ scenario: `getMe (org-scoped)${label}`, ...me, ...(against ? { ratio: me.requestsPerSecond / against.me.requestsPerSecond, ratioTo: 'getMe (org-scoped)' } : {}) });
  await listMembers(server.baseUrl, scoped, { duration: 2 });
  const members = await measured(server, listMembers(server.baseUrl, scoped));
  record({
    scenario: `listOrganizationMembers${label}`,
    ...members,
    ...(against ? { ratio: members.requestsPerSecond / against.members.requestsPerSecond, ratioTo: 'listOrganizationMembers' } : {}),
  });
  return { me, members };
}

function login(baseUrl: string, options: { duration?: number; users: number }) {
  let next = 0;
  return runLoad({
    url: baseUrl,
    // Enough requests in flight to keep every hashing thread busy, not so many that queueing is all we measure.
    connections: HASH_THREADS * 4,
    duration: options.duration ?? DURATION,
    expectStatus: 200,
    request: () => ({
      method: 'POST',
      path: '/v1/auth/login',
      headers: jsonHeaders,
      body: json({ email: benchEmail(next++ % options.users), password: BENCH_PASSWORD, refreshTokenDelivery: 'body' }),
    }),
  });
}

function register(baseUrl: string) {
  let next = 0;
  const run = Date.now();
  return runLoad({
    url: baseUrl,
    connections: HASH_THREADS * 4,
    duration: DURATION,
    expectStatus: 202,
    request: () => ({
      method: 'POST',
      path: '/v1/auth/register',
      headers: jsonHeaders,
      body: json({ email: `new-${run}-${next++}@bench.test`, password: BENCH_PASSWORD }),
    }),
  });
}

function health(baseUrl: string, duration: number) {
  return runLoad({ url: baseUrl, connections: 1, overallRate: 100, duration, expectStatus: 200, request: () => ({ path: '/health' }) });
}

/**
 * The server's own event-loop delay (prom-client's gauges, which restart at every scrape): read once to start
 * afresh, once after the load, to tell a busy event loop from a busy machine.
 */
async function eventLoopDelay(baseUrl: string): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${BENCH_METRICS_TOKEN}` } })).text();
  const gauge = (name: string) => Number(new RegExp(`^pulse_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000;
  return { p99: gauge('p99'), max: gauge('max') };
}

/** What one thread hashes per second at the server's cost: the same compare a sign-in does. */
function hashesPerSecondOfOneThread(): number {
  const hash = bcrypt.hashSync(passwordDigest(BENCH_PASSWORD), BCRYPT_COST);
  bcrypt.compareSync(passwordDigest(BENCH_PASSWORD), hash);
  const started = performance.now();
  let count = 0;
  while (performance.now() - started < 3_000 || count < 5) {
    bcrypt.compareSync(passwordDigest(BENCH_PASSWORD), hash);
    count += 1;
  }
  return count / ((performance.now() - started) / 1000);
}

// ---------------------------------------------------------------------------------------------------------------
// The run

function record(row: Row) {
  rows.push(row);
  const figures = row.requestsPerSecond === undefined ? '' : `${row.requestsPerSecond.toFixed(0)} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms${row.cpuMsPerRequest === undefined ? '' : `, ${row.cpuMsPerRequest.toFixed(3)} CPU ms/request`}`;
  log(`${row.scenario}: ${figures}${row.ratio === undefined ? '' : `, ratio ${row.ratio.toFixed(3)}`}${row.note ? ` (${row.note})` : ''}`);
  if (row.unexpected || row.errors) log(`  !! ${row.unexpected} unexpected answers (first: ${row.firstUnexpected ?? '-'}), ${row.errors} errors`);
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'pulse-auth-bench-'));
  const databaseUrl = process.env.BENCH_DATABASE_URL ?? `file:${join(dataDir, 'bench.sqlite')}`;
  log(`database: ${databaseUrl.startsWith('file:') ? 'SQLite' : 'PostgreSQL'}; ${cpus().length} cores; bcrypt cost ${BCRYPT_COST}, ${HASH_THREADS} hashing threads; log level ${LOG_LEVEL}; ${DURATION} s per scenario, ${CONNECTIONS} connections`);

  // 1. The baseline: bare Koa.
  const baseline = await startChild(['bench/baseline.ts'], {}, (output) => {
    const port = /listening (\d+)/.exec(output)?.[1];
    return port ? `http://127.0.0.1:${port}` : undefined;
  });
  await runLoad({ url: baseline.baseUrl, connections: CONNECTIONS, duration: 2, expectStatus: 200, request: () => ({ path: '/' }) });
  const bare = await measured(baseline, runLoad({ url: baseline.baseUrl, connections: CONNECTIONS, duration: DURATION, expectStatus: 200, request: () => ({ path: '/' }) }));
  await stopChild(baseline);
  record({ scenario: 'baseline: bare Koa', ...bare, ratio: 1, ratioTo: 'baseline' });

  // 2. The hashing ceiling, measured while nothing else runs.
  const perThread = hashesPerSecondOfOneThread();
  const ceiling = perThread * HASH_THREADS;
  rows.push({ scenario: 'hashing ceiling', requestsPerSecond: ceiling, note: `${HASH_THREADS} threads × ${perThread.toFixed(1)} compares/s at cost ${BCRYPT_COST}` });
  log(`hashing ceiling: ${ceiling.toFixed(1)}/s (${HASH_THREADS} × ${perThread.toFixed(1)})`);

  // 3. Pulse Auth with a small database.
  if (!databaseUrl.startsWith('file:')) await resetPostgres(databaseUrl);
  const database = await BenchDatabase.open(databaseUrl, BCRYPT_COST);
  await database.users(0, USERS);
  await database.organizations(0, USERS / ORG_MEMBERS, ORG_MEMBERS);
  await database.admin();
  await database.close();
  const mailSink = await startMailSink();
  let server = await startPulseAuth(databaseUrl, dataDir, mailSink.url);
  rows.push({ scenario: 'start-up to first /health 200 (ms)', note: `${startUpMs!.toFixed(0)} (compiled build, migrated database; target ≤ 1500)` });
  log(`start-up to first /health 200: ${startUpMs!.toFixed(0)} ms`);
  let tokens = await signIn(server.baseUrl, Array.from({ length: SIGNED_IN }, (_, index) => benchEmail(index)));

  let me: LoadResult | undefined;
  let signIns: LoadResult | undefined;
  if (want('getMe')) {
    await getMe(server.baseUrl, tokens, { duration: 2 }); // warm-up: JIT, caches, connections
    me = await measured(server, getMe(server.baseUrl, tokens, { duration: DURATION }));
    record({ scenario: 'getMe', ...me, ratio: me.requestsPerSecond / bare.requestsPerSecond, ratioTo: 'baseline' });
  }
  let orgFigures: { me: LoadResult; members: LoadResult } | undefined;
  if (want('orgs')) orgFigures = await organizationScenarios(server, tokens, '');
  if (want('refreshTokens')) {
    const rotation = await measured(server, refresh(server.baseUrl, tokens));
    record({ scenario: 'refreshTokens', ...rotation, ratio: rotation.requestsPerSecond / bare.requestsPerSecond, ratioTo: 'baseline' });
  }
  if (want('login')) {
    let probe: LoadResult;
    await eventLoopDelay(server.baseUrl);
    [signIns, probe] = await Promise.all([measured(server, login(server.baseUrl, { users: USERS })), health(server.baseUrl, DURATION)]);
    const delay = await eventLoopDelay(server.baseUrl);
    record({ scenario: 'login', ...signIns, ratio: signIns.requestsPerSecond / ceiling, ratioTo: 'hashing ceiling' });
    record({
      scenario: 'getHealth during login',
      ...probe,
      note: `p99 is the figure: 100 req/s while login saturates the hashing threads; event-loop delay p99 ${delay.p99.toFixed(1)} ms, max ${delay.max.toFixed(1)} ms`,
    });
  }
  if (want('register')) {
    const signUps = await measured(server, register(server.baseUrl));
    record({ scenario: 'register', ...signUps, ratio: signUps.requestsPerSecond / ceiling, ratioTo: 'hashing ceiling' });
  }

  // 3b. login and register again with two webhook endpoints subscribed to "*" (each sign-in queues two deliveries,
  // sent after the response): issue 20 wants both within 10% of the figures without.
  if (want('webhooks') && signIns) {
    let received = 0;
    const receivers = await Promise.all(
      [0, 1].map(async () => {
        const receiver = createServer((req, res) => {
          req.resume();
          req.on('end', () => {
            received += 1;
            res.writeHead(204).end();
          });
        });
        receiver.listen(0, '127.0.0.1');
        await once(receiver, 'listening');
        return receiver;
      }),
    );
    const withHooks = await BenchDatabase.open(databaseUrl, BCRYPT_COST);
    await withHooks.webhooks(receivers.map((receiver) => `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`));
    await withHooks.close();
    const hookedLogin = await measured(server, login(server.baseUrl, { users: USERS }));
    record({ scenario: 'login, 2 webhooks on *', ...hookedLogin, ratio: hookedLogin.requestsPerSecond / signIns.requestsPerSecond, ratioTo: 'login' });
    const plainRegister = rows.find((row) => row.scenario === 'register');
    const hookedRegister = await measured(server, register(server.baseUrl));
    record({
      scenario: 'register, 2 webhooks on *',
      ...hookedRegister,
      ...(plainRegister?.requestsPerSecond ? { ratio: hookedRegister.requestsPerSecond / plainRegister.requestsPerSecond, ratioTo: 'register' } : {}),
      note: 'register writes no event (user.created comes at verifyEmail)',
    });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    rows.push({ scenario: 'webhook deliveries received', note: `${received} 2 s after the load (2 per sign-in: at least ${2 * hookedLogin.requests}, with the sign-ins still in flight when the measure ended)` });
    log(`webhook deliveries received: ${received} of ${2 * hookedLogin.requests}`);
    for (const receiver of receivers) receiver.close();
  }

  const rss = peakRssMb(server);
  rows.push({ scenario: 'peak RSS (MB)', note: rss.toFixed(0) });
  log(`peak RSS of the server: ${rss.toFixed(0)} MB`);
  await stopChild(server);

  // 4. The same with 100,000 accounts and 1,000,000 sign-in attempts; then a cleanup under load.
  if (!args['skip-large'] && want('large') && me && signIns) {
    const large = await BenchDatabase.open(databaseUrl, BCRYPT_COST);
    let started = Date.now();
    await large.users(USERS, LARGE_USERS);
    await large.loginAttempts(LARGE_ATTEMPTS, LARGE_USERS);
    await large.expiredRegistrations(EXPIRED_REGISTRATIONS);
    await large.organizations(USERS / ORG_MEMBERS, LARGE_USERS / ORG_MEMBERS, ORG_MEMBERS);
    log(`seeded ${LARGE_USERS / ORG_MEMBERS} organizations with ${LARGE_USERS} memberships`);
    log(`seeded ${LARGE_USERS} accounts, ${LARGE_ATTEMPTS} attempts, ${EXPIRED_REGISTRATIONS} expired registrations in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await large.close();

    server = await startPulseAuth(databaseUrl, dataDir, mailSink.url);
    tokens = await signIn(server.baseUrl, Array.from({ length: SIGNED_IN }, (_, index) => benchEmail(LARGE_USERS - 1 - index)));
    await getMe(server.baseUrl, tokens, { duration: 2 });
    const bigMe = await measured(server, getMe(server.baseUrl, tokens, { duration: DURATION }));
    record({ scenario: 'getMe, large database', ...bigMe, ratio: bigMe.requestsPerSecond / me.requestsPerSecond, ratioTo: 'getMe' });
    if (orgFigures) await organizationScenarios(server, tokens, ', large database', orgFigures);
    const bigLogin = await measured(server, login(server.baseUrl, { users: LARGE_USERS }));
    record({ scenario: 'login, large database', ...bigLogin, ratio: bigLogin.requestsPerSecond / signIns.requestsPerSecond, ratioTo: 'login' });

    const admin = await signIn(server.baseUrl, [ADMIN_EMAIL]);
    started = Date.now();
    const cleanup = fetch(`${server.baseUrl}/v1/admin/maintenance/cleanup`, { method: 'POST', headers: { authorization: `Bearer ${admin.accessTokens[0]}` } }).then(
      async (response) => {
        if (response.status !== 200) throw new Error(`cleanup answered ${response.status}: ${await response.text()}`);
        return response.json();
      },
    );
    const during = await getMe(server.baseUrl, tokens, { until: cleanup });
    const jobs = JSON.stringify(await cleanup);
    record({
      scenario: 'getMe during cleanup',
      ...during,
      ratio: during.p99 / Math.max(bigMe.p99, 1),
      ratioTo: 'p99 / idle p99',
      note: `cleanup took ${((Date.now() - started) / 1000).toFixed(1)} s: ${jobs}`,
    });
    const check = await BenchDatabase.open(databaseUrl, BCRYPT_COST);
    const left = await check.expiredRegistrationsLeft();
    await check.close();
    if (left > 0) log(`!! ${left} expired registrations were left by the cleanup`);
    rows.push({ scenario: 'peak RSS (MB), large database', note: peakRssMb(server).toFixed(0) });
    await stopChild(server);
  }

  await mailSink.close();
  printTable();
  const resultsDir = join(root, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${new Date().toISOString().replaceAll(':', '-')}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), database: databaseUrl.startsWith('file:') ? 'sqlite' : 'postgresql', cores: cpus().length, bcryptCost: BCRYPT_COST, hashThreads: HASH_THREADS, logLevel: LOG_LEVEL, durationSeconds: DURATION, connections: CONNECTIONS, rows }, null, 2));
  log(`results written to ${file}`);
  const wrong = rows.filter((row) => row.unexpected || row.errors);
  if (wrong.length) {
    // Throughput made of error answers is not throughput: a run with any is a failed run.
    console.error(`wrong answers in: ${wrong.map((row) => row.scenario).join(', ')}`);
    process.exitCode = 1;
  }
}

function printTable() {
  const lines = [['scenario', 'req/s', 'p50 ms', 'p99 ms', 'CPU ms/req', 'peak RSS MB', 'ratio', 'ratio to', 'note']];
  for (const row of rows) {
    lines.push([
      row.scenario,
      row.requestsPerSecond === undefined ? '' : row.requestsPerSecond.toFixed(row.requestsPerSecond < 100 ? 1 : 0),
      row.p50 === undefined ? '' : String(row.p50),
      row.p99 === undefined ? '' : String(row.p99),
      row.cpuMsPerRequest === undefined ? '' : row.cpuMsPerRequest.toFixed(3),
      row.peakRssMb === undefined ? '' : row.peakRssMb.toFixed(0),
      row.ratio === undefined ? '' : row.ratio.toFixed(3),
      row.ratioTo ?? '',
      (row.note ?? '') + (row.unexpected || row.errors ? ` [${row.unexpected} unexpected, ${row.errors} errors]` : ''),
    ]);
  }
  const widths = lines[0].map((_, column) => Math.max(...lines.map((line) => (column === 8 ? 0 : line[column].length))));
  for (const line of lines) console.log(line.map((cell, column) => (column === 8 ? cell : cell.padEnd(widths[column]))).join('  ').trimEnd());
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
