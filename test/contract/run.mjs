#!/usr/bin/env node
/**
 * Contract tests: every response documented in openapi/openapi.yaml is produced against a running server and checked
 * with dredd (status, documented headers, media type, and the body against the spec's schema).
 *
 *   npm run test:contract                                   # starts its own server on a fresh database
 *   npm run test:contract -- --base-url https://staging.example.com
 *
 * What it does:
 *   1. Bundles the spec dereferenced (`redocly bundle --dereferenced`; dredd mislabels `$ref` responses otherwise).
 *   2. Unless a base URL is given, starts the server (`node --import tsx src/server.ts`) on a free port of 127.0.0.1
 *      with a fresh SQLite database in a temporary folder (or TEST_DATABASE_URL, see below), BCRYPT_COST=4,
 *      RATE_LIMIT_PER_MINUTE=10000, LOG_LEVEL=warn, NODE_ENV=test, and SMTP_URL pointing at an SMTP catcher this
 *      script runs in-process; waits for GET /health, and stops the server at the end (also on failure).
 *   3. Runs dredd (JS API, so the hooks in test/contract/hooks.cjs share the mail catcher) over the bundle.
 *   4. Prints one line per documented response (operationId, method, path, status: pass | fail | skip) and fails
 *      unless every transaction that is not deliberately skipped (SKIPS in test/contract/contract.cjs, each with its
 *      reason) passed, and no transaction failed or errored. A run that executes nothing fails.
 *
 * Environment:
 *   CONTRACT_BASE_URL     Test the server at this URL instead of starting one (same as `--base-url <url>`; the
 *                         command-line option wins). The hooks register and sign in fresh `contract-…@example.com`
 *                         accounts there.
 *   CONTRACT_SMTP_PORT    Run the mail catcher on this port on all interfaces (0.0.0.0) instead of a random port on
 *                         127.0.0.1. For a server we do not start (staging), set the server's SMTP_URL to
 *                         `smtp://<this host>:<CONTRACT_SMTP_PORT>` (plain SMTP, no TLS; any user:pass is accepted)
 *                         so that its verification mail reaches the hooks.
 *   CONTRACT_ADMIN_EMAIL, CONTRACT_ADMIN_PASSWORD
 *                         Against a base URL: an administrator's account for the administration operations (without
 *                         it, their 2xx and their 403/404/409 transactions are skipped). Use a throw-away admin of a
 *                         staging server: the run updates, deletes and restores throw-away users, revokes sessions,
 *                         runs the cleanup jobs. It never rotates keys or unblocks IPs on a server it did not start.
 *   CONTRACT_EMAIL, CONTRACT_PASSWORD
 *                         Only against a base URL without CONTRACT_SMTP_PORT: an existing, verified account to sign
 *                         in with (its mail cannot be read, so no account can be verified). verifyEmail 200 is then
 *                         skipped. Use a throw-away account: logoutAll ends all of its sessions and updateMe renames it.
 *   TEST_DATABASE_URL     When we start the server: a PostgreSQL URL (postgres://…) to use instead of a temporary
 *                         SQLite file. Its `public` schema is DROPPED and recreated first, so the run starts clean:
 *                         never point it at a database whose data you want to keep.
 *   CONTRACT_MAIL_TIMEOUT_MS
 *                         How long the hooks wait for a verification mail (default 30000).
 *   CONTRACT_DREDD_LOGLEVEL
 *                         dredd's own log level: error (default), warning, debug or silent.
 *   CONTRACT_KEEP_TMP=1   Keep the temporary folder (bundle, SQLite database) and print its path.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once, EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
keepDreddFromCloningTheApiDescription();
const Dredd = require('dredd');
const { startMailCatcher } = require('../helpers/mail-catcher.cjs');
const { activeSkips, findSkip, documentedResponses, responseKey, setContext } = require('./contract.cjs');

/**
 * Before its hooks run, dredd deep-copies its whole configuration for them (`hooks.configuration`), and that holds
 * the parsed API description: a tree of about a million API Elements with links to their parents. With this spec
 * the copy alone took 290 of the run's 320 s of CPU (a profile of the run). The hooks here never read
 * `hooks.configuration`, so they get a copy without the parsed descriptions and the event emitter (both kept by
 * reference); everything else dredd copies with `clone` is copied as before. Must run before dredd is loaded.
 */
function keepDreddFromCloningTheApiDescription() {
  const dreddRequire = createRequire(require.resolve('dredd'));
  const clonePath = dreddRequire.resolve('clone');
  const clone = dreddRequire(clonePath);
  const cloneSparingTheDescriptions = function (value, ...rest) {
    if (value && typeof value === 'object' && 'apiDescriptions' in value && 'emitter' in value) {
      const { apiDescriptions, emitter, ...others } = value;
      return { ...clone(others, ...rest), apiDescriptions, emitter };
    }
    return clone(value, ...rest);
  };
  Object.assign(cloneSparingTheDescriptions, clone);
  require.cache[clonePath].exports = cloneSparingTheDescriptions;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const HOOKS = join(HERE, 'hooks.cjs');
const STARTUP_TIMEOUT_MS = 30_000;
const CONTRACT_ADMIN_EMAIL = 'contract-admin@example.com';
/**
 * For the requests made before dredd starts: dredd then compiles the spec synchronously (about a minute on a busy
 * machine), so an idle keep-alive socket left from them can be closed by the server (keepAliveTimeout 65 s) while
 * the event loop is blocked, and the hooks' first request would be written to it ("other side closed").
 */
const NO_KEEP_ALIVE = { connection: 'close' };

const cleanups = [];
let cleaningUp;
function cleanup() {
  cleaningUp ??= (async () => {
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (error) {
        console.error(`contract: cleanup step failed: ${error?.message || error}`);
      }
    }
  })();
  return cleaningUp;
}
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.once(signal, () => {
    console.error(`contract: ${signal}, stopping`);
    cleanup().finally(() => process.exit(code));
  });
}

class Usage extends Error {}

function parseArgs(argv) {
  const options = { baseUrl: process.env.CONTRACT_BASE_URL || undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--base-url') {
      if (!argv[i + 1]) throw new Usage('--base-url needs a URL');
      options.baseUrl = argv[++i];
    } else if (arg.startsWith('--base-url=')) {
      options.baseUrl = arg.slice('--base-url='.length);
    } else {
      throw new Usage(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  if (options.baseUrl && !/^https?:\/\/[^/]+/.test(options.baseUrl)) throw new Usage(`--base-url must be an http(s) URL (got ${options.baseUrl})`);
  if (options.baseUrl) options.baseUrl = options.baseUrl.replace(/\/+$/, '');
  return options;
}

function bundleSpec(outputPath) {
  const result = spawnSync(
    'npx',
    ['--no', 'redocly', 'bundle', 'openapi/openapi.yaml', '--dereferenced', '--config', '.redocly.yaml', '-o', outputPath],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (result.status !== 0) {
    throw new Error(`redocly bundle failed (exit ${result.status ?? result.signal}):\n${result.stdout}${result.stderr}${result.error ?? ''}`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Drops and recreates the `public` schema of a PostgreSQL test database. */
async function resetPostgres(url) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('DROP SCHEMA IF EXISTS public CASCADE');
    await client.query('CREATE SCHEMA public');
  } finally {
    await client.end();
  }
}

async function waitForHealth(baseUrl, { timeoutMs, child }) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode} before answering GET /health`);
    try {
      const response = await fetch(`${baseUrl}/health`, { headers: NO_KEEP_ALIVE, signal: AbortSignal.timeout(2_000) });
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = error?.cause?.code || error?.message || String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`GET ${baseUrl}/health did not answer 200 within ${timeoutMs / 1000} s (last: ${last})`);
}

/** Starts src/server.ts; its output is passed through with a prefix. */
async function startServer({ port, databaseUrl, smtpUrl }) {
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    SMTP_URL: smtpUrl,
    BCRYPT_COST: '4',
    RATE_LIMIT_PER_MINUTE: '10000',
    RATE_LIMIT_ACCOUNT_PER_HOUR: '10000',
    ADMIN_EMAILS: CONTRACT_ADMIN_EMAIL,
    // adminUnblockIp 204 blocks an IP of its own (from X-Forwarded-For); every other request comes from 127.0.0.1.
    TRUST_PROXY: 'true',
    // Webhook endpoints on 127.0.0.1 (nothing listens on port 9: the deliveries fail and wait).
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    // A provider whose issuer does not answer: enough for startOAuth and finishOAuth to answer with their redirects.
    OIDC_PROVIDERS: 'contract',
    OIDC_CONTRACT_ISSUER: 'http://127.0.0.1:9',
    OIDC_CONTRACT_CLIENT_ID: 'contract-client',
    OIDC_CONTRACT_CLIENT_SECRET: 'contract-secret',
    OIDC_ALLOW_HTTP_ISSUERS: 'true',
    // Passkey ceremonies come from a page on http://localhost:<port> (an IP address is not a valid RP ID).
    WEBAUTHN_RP_ID: 'localhost',
    WEBAUTHN_ORIGINS: `http://localhost:${port}`,
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
    VALIDATE_RESPONSES: 'true',
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) if (line.trim()) process.stderr.write(`[server] ${line}\n`);
    });
    stream.on('end', () => rest.trim() && process.stderr.write(`[server] ${rest}\n`));
  }
  let stopping = false;
  child.on('exit', (code, signal) => {
    if (!stopping) console.error(`contract: the server exited unexpectedly (code ${code}, signal ${signal})`);
  });
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    stopping = true;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  });
  return child;
}

/**
 * Loads the hooks file once with a stub `hooks` module, the way dredd does (proxyquire). Dredd itself only logs a
 * warning, hidden at our log level, when a hook file does not load, and then runs every transaction unshaped.
 */
function checkHooksLoad() {
  const proxyquire = createRequire(require.resolve('dredd'))('proxyquire').noCallThru();
  const stub = new Proxy({}, { get: () => () => {} });
  try {
    proxyquire(HOOKS, { hooks: stub });
  } catch (error) {
    throw new Error(`${HOOKS} does not load: ${error?.stack || error}`);
  }
}

function runDredd({ baseUrl, bundlePath }) {
  const emitter = new EventEmitter();
  const results = new Map(); // responseKey -> { outcome, message }
  const stray = []; // errors not tied to a transaction (a failing beforeAll hook, say)

  const keyOf = (test) => {
    const method = String(test?.title || '').split(' ')[0];
    const origin = test?.origin;
    if (!origin || !method) return null;
    const [status, mediaType] = String(origin.exampleName).split(' > ');
    return responseKey({ method, path: origin.resourceName, status, mediaType });
  };
  const record = (outcome) => (test) => {
    const key = keyOf(test);
    const message = String(test?.message || '').trim();
    if (key) results.set(key, { outcome, message });
    else stray.push({ outcome, message });
  };
  emitter.on('test pass', record('pass'));
  emitter.on('test fail', record('fail'));
  emitter.on('test skip', record('skip'));
  emitter.on('test error', (error, test) => {
    const key = keyOf(test);
    const message = error?.message || String(error);
    if (key) results.set(key, { outcome: 'error', message });
    else stray.push({ outcome: 'error', message });
  });

  const dredd = new Dredd({
    endpoint: baseUrl,
    path: [bundlePath],
    hookfiles: [HOOKS],
    reporter: [],
    loglevel: process.env.CONTRACT_DREDD_LOGLEVEL || 'error',
    color: Boolean(process.stdout.isTTY),
    emitter,
    custom: { cwd: ROOT },
  });
  return new Promise((resolve) => {
    dredd.run((error, stats) => resolve({ error, stats: { ...stats }, results, stray }));
  });
}

function report({ documented, skips, results, stray, stats, error, hooksRan, baseUrl }) {
  const problems = [];
  const rows = documented.map((response) => {
    const skip = findSkip(skips, response.operationId, response.status);
    const result = results.get(responseKey(response));
    const outcome = result?.outcome ?? 'not run';
    const wanted = skip ? 'skip' : 'pass';
    if (outcome !== wanted) {
      problems.push(
        `${response.operationId} ${response.status}: ${outcome}, expected ${wanted}${result?.message ? ` (${result.message.split('\n')[0]})` : ''}`,
      );
    }
    return { response, outcome, note: skip && outcome === 'skip' ? skip.reason : outcome !== wanted ? `expected ${wanted}` : '' };
  });

  const width = (pick) => Math.max(...rows.map((row) => pick(row).length));
  const opWidth = width((r) => r.response.operationId);
  const methodWidth = width((r) => r.response.method);
  const pathWidth = width((r) => r.response.path);
  console.log(`\nContract summary (${baseUrl}):`);
  for (const { response, outcome, note } of rows) {
    const mark = outcome === 'pass' ? 'pass' : outcome === 'skip' ? 'skip' : outcome.toUpperCase();
    console.log(
      `  ${response.operationId.padEnd(opWidth)}  ${response.method.padEnd(methodWidth)}  ${response.path.padEnd(pathWidth)}  ${response.status}  ${mark}${note ? `  (${note})` : ''}`,
    );
  }

  const expectedPasses = documented.length - documented.filter((r) => findSkip(skips, r.operationId, r.status)).length;
  if (error) problems.push(`dredd: ${error.message || error}`);
  if (!hooksRan) problems.push('the hooks did not run (test/contract/hooks.cjs failed to load?)');
  for (const item of stray) problems.push(`${item.outcome}: ${item.message}`);
  if (stats.tests !== documented.length) problems.push(`dredd ran ${stats.tests} transactions; the spec documents ${documented.length} responses`);
  if (stats.failures > 0) problems.push(`${stats.failures} transaction(s) failed`);
  if (stats.errors > 0) problems.push(`${stats.errors} transaction(s) errored`);
  if (!(stats.passes > 0) || stats.passes < expectedPasses) problems.push(`${stats.passes} transaction(s) passed; expected ${expectedPasses}`);

  console.log(
    `\n${stats.passes} passed (expected ${expectedPasses}), ${stats.failures} failed, ${stats.errors} errors, ` +
      `${stats.skipped} skipped (expected ${documented.length - expectedPasses}), ${stats.tests} run of ${documented.length} documented responses`,
  );
  if (problems.length) {
    console.log(`\nCONTRACT TESTS FAILED:\n${[...new Set(problems)].map((p) => `  - ${p}`).join('\n')}`);
    return 1;
  }
  console.log('CONTRACT TESTS PASSED');
  return 0;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const tmp = mkdtempSync(join(tmpdir(), 'pulse-auth-contract-'));
  cleanups.push(() => {
    if (process.env.CONTRACT_KEEP_TMP) console.log(`contract: kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  });

  checkHooksLoad();
  const bundlePath = join(tmp, 'openapi.bundle.json');
  bundleSpec(bundlePath);
  const spec = JSON.parse(await readFile(bundlePath, 'utf8'));
  const documented = documentedResponses(spec);
  if (documented.length === 0) throw new Error('the bundled spec documents no responses');

  const smtpPort = process.env.CONTRACT_SMTP_PORT ? Number(process.env.CONTRACT_SMTP_PORT) : undefined;
  if (smtpPort !== undefined && !(Number.isInteger(smtpPort) && smtpPort > 0 && smtpPort < 65536)) {
    throw new Usage(`CONTRACT_SMTP_PORT must be a port number (got ${process.env.CONTRACT_SMTP_PORT})`);
  }
  let mail = null;
  if (smtpPort !== undefined || !options.baseUrl) {
    mail = await startMailCatcher({ host: smtpPort !== undefined ? '0.0.0.0' : '127.0.0.1', port: smtpPort ?? 0 });
    cleanups.push(() => mail.close());
  }

  let credentials = null;
  let baseUrl = options.baseUrl;
  if (baseUrl) {
    if (!mail) {
      const { CONTRACT_EMAIL: email, CONTRACT_PASSWORD: password } = process.env;
      if (!email || !password) {
        throw new Usage(
          'against --base-url, the hooks need either the server\'s mail (set CONTRACT_SMTP_PORT and the server\'s ' +
            'SMTP_URL=smtp://<this host>:<port>) or an existing verified account (CONTRACT_EMAIL and CONTRACT_PASSWORD)',
        );
      }
      credentials = { email, password };
    }
    console.log(`contract: testing ${baseUrl}${mail ? `; mail catcher on ${mail.host}:${mail.port}` : '; no mail catcher'}`);
    await waitForHealth(baseUrl, { timeoutMs: 10_000 });
  } else {
    let databaseUrl = `file:${join(tmp, 'contract.sqlite')}`;
    if (process.env.TEST_DATABASE_URL) {
      databaseUrl = process.env.TEST_DATABASE_URL;
      if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new Usage('TEST_DATABASE_URL must be a postgres:// URL');
      await resetPostgres(databaseUrl);
    }
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    console.log(
      `contract: starting the server on ${baseUrl} (${databaseUrl.startsWith('file:') ? 'SQLite' : 'PostgreSQL'}; mail catcher on ${mail.host}:${mail.port})`,
    );
    const child = await startServer({ port, databaseUrl, smtpUrl: `smtp://127.0.0.1:${mail.port}` });
    await waitForHealth(baseUrl, { timeoutMs: STARTUP_TIMEOUT_MS, child });
  }

  const context = {
    baseUrl,
    specPath: bundlePath,
    mail,
    credentials,
    mailTimeoutMs: Number(process.env.CONTRACT_MAIL_TIMEOUT_MS) || 30_000,
    hooksRan: false,
  };
  context.provider = await firstProvider(baseUrl);
  context.external = Boolean(options.baseUrl);
  // The origin the software authenticator reports for passkey ceremonies: one of the server's WEBAUTHN_ORIGINS.
  context.webauthnOrigin = options.baseUrl ? process.env.CONTRACT_WEBAUTHN_ORIGIN || null : `http://localhost:${new URL(baseUrl).port}`;
  // An administrator: on our own server, an account ADMIN_EMAILS names (the hooks register it); elsewhere, given.
  context.admin = options.baseUrl
    ? process.env.CONTRACT_ADMIN_EMAIL && process.env.CONTRACT_ADMIN_PASSWORD
      ? { email: process.env.CONTRACT_ADMIN_EMAIL, password: process.env.CONTRACT_ADMIN_PASSWORD, register: false }
      : null
    : { email: CONTRACT_ADMIN_EMAIL, password: `admin-${randomUUID()}`, register: true };
  setContext(context);
  const skips = activeSkips({
    mailAvailable: Boolean(mail),
    providerAvailable: Boolean(context.provider),
    adminAvailable: Boolean(context.admin),
    external: context.external,
    webauthnAvailable: Boolean(context.webauthnOrigin),
  });

  const { error, stats, results, stray } = await runDredd({ baseUrl, bundlePath });
  const code = report({ documented, skips, results, stray, stats, error, hooksRan: context.hooksRan, baseUrl });
  if (context.cleanupError) {
    console.error(`contract: could not remove the accounts this run made: ${context.cleanupError}`);
    return 1;
  }
  console.log('contract: the accounts this run made are removed');
  return code;
}

/** The name of the server's first social sign-in provider, if it has one (for startOAuth and finishOAuth). */
async function firstProvider(baseUrl) {
  const response = await fetch(new URL('v1/auth/providers', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`), { headers: NO_KEEP_ALIVE });
  if (!response.ok) return undefined;
  const { items } = await response.json();
  return items?.[0]?.name;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  if (error instanceof Usage) {
    console.error(`contract: ${error.message}\nusage: npm run test:contract [-- --base-url <url>]   (see test/contract/run.mjs)`);
    exitCode = 2;
  } else {
    console.error(`contract: ${error?.stack || error}`);
    exitCode = 1;
  }
} finally {
  await cleanup();
}
process.exit(exitCode);
