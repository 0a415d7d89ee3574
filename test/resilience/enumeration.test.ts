import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usingPostgres, uniqueEmail } from '../helpers/server.js';
import { MailCatcher, tokenFrom } from '../helpers/mail-catcher.js';
import { resetPostgres } from '../helpers/postgres.js';
import { responseProblems } from '../helpers/spec-validator.js';
import { startServerProcess, type ServerProcess } from '../multi-instance/processes.js';

/**
 * The operations that take an email answer alike whether or not it has an account: the same status, the same body
 * (once the per-request `requestId` is set aside), the same headers, and the same time. For the time, bcrypt runs at
 * cost 8 so that a missing hash (a decoy skipped for unknown emails, a hash skipped for known ones) is the larger
 * part of an answer's time and shows as a clear difference of medians; the production cost would only make the
 * suite slow. The server is a process of its own: in this process, work it does after answering (a reset link, a
 * mail) would hold up the test's own reading of the answer and look like a slower answer.
 */
/** Pairs measured: operations that hash are slow and their difference large; the others need more to beat noise. */
const SAMPLES = 40;
const SAMPLES_WITHOUT_HASH = 120;
const WARM_UP = 6;
const TOLERANCE = 0.2;
const SETTLE_MS = 10;
/** Headers that differ per request by nature. */
const PER_REQUEST_HEADERS = new Set(['date', 'x-request-id']);

interface Probe {
  method: string;
  path: string;
  body: Record<string, unknown>;
}

describe('resilience: account enumeration', function () {
  this.timeout(300_000);
  const mail = new MailCatcher();
  let server: ServerProcess;
  const verified = { email: uniqueEmail('known'), password: 'a perfectly fine passphrase' };
  const pendingEmail = uniqueEmail('pending');

  before(async () => {
    const databaseUrl = process.env.TEST_DATABASE_URL ?? `file:${join(mkdtempSync(join(tmpdir(), 'pulse-auth-enum-')), 'test.sqlite')}`;
    if (usingPostgres) await resetPostgres(databaseUrl);
    const smtpPort = await mail.start();
    server = await startServerProcess({
      DATABASE_URL: databaseUrl,
      PUBLIC_URL: 'http://pulse-auth.test',
      APP_URL: 'http://app.test',
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      BCRYPT_COST: '8',
      PASSWORD_HASH_THREADS: '1',
      // Limits and lockouts high enough that no answer turns into 429 during the measurements.
      RATE_LIMIT_PER_MINUTE: '100000',
      RATE_LIMIT_ACCOUNT_PER_HOUR: '100000',
      LOCKOUT_ACCOUNT_THRESHOLD: '100000',
      LOCKOUT_IP_THRESHOLD: '100000',
    });
    expect((await send({ method: 'POST', path: '/v1/auth/register', body: verified })).status).to.equal(202);
    const link = await mail.next(verified.email, { subject: /Confirm/ });
    expect((await send({ method: 'POST', path: '/v1/auth/verify-email', body: { token: tokenFrom(link), password: verified.password } })).status).to.equal(200);
    expect((await send({ method: 'POST', path: '/v1/auth/register', body: { email: pendingEmail, password: 'a pending passphrase' } })).status).to.equal(202);
  });
  after(async () => {
    await server?.stop();
    await mail.stop();
  });

  const send = (probe: Probe) =>
    fetch(server.baseUrl + probe.path, { method: probe.method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(probe.body) });

  /** Status, headers and body of one answer, checked against the spec, with the per-request parts removed. */
  async function answerOf(probe: Probe) {
    const response = await send(probe);
    const text = await response.text();
    const contentType = response.headers.get('content-type');
    const body = text ? JSON.parse(text) : undefined;
    expect(responseProblems(probe.method, probe.path, response.status, contentType, body), `${probe.path} ${text}`).to.deep.equal([]);
    const headers = [...response.headers].filter(([name]) => !PER_REQUEST_HEADERS.has(name));
    if (body && typeof body === 'object') delete body.requestId;
    return { status: response.status, headers, body };
  }

  /**
   * Median wall time of each kind, over `samples` of each in a shuffled order (drift hits both alike, and each kind
   * follows the other as often as itself), after a warm-up. A short pause after each answer lets work the server
   * does after answering finish before the next request, so that it is not charged to whichever request comes next.
   */
  async function medians(known: () => Probe, unknown: () => Probe, samples: number) {
    const times = { known: [] as number[], unknown: [] as number[] };
    const kinds = [...Array(samples).fill('known'), ...Array(samples).fill('unknown')] as ('known' | 'unknown')[];
    for (let i = kinds.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
    }
    const warmUp = Array.from({ length: 2 * WARM_UP }, (_, i) => (i % 2 ? 'known' : 'unknown') as 'known' | 'unknown');
    for (const [i, kind] of [...warmUp, ...kinds].entries()) {
      const probe = kind === 'known' ? known() : unknown();
      const start = performance.now();
      const response = await send(probe);
      await response.arrayBuffer();
      const elapsed = performance.now() - start;
      expect(response.status, `${probe.path} ${kind}`).to.be.below(429);
      if (i >= warmUp.length) times[kind].push(elapsed);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    }
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return (sorted[(sorted.length - 1) >> 1] + sorted[sorted.length >> 1]) / 2;
    };
    return { known: median(times.known), unknown: median(times.unknown) };
  }

  /** Same answer, and medians within TOLERANCE of each other; one new measurement is allowed if the first misses. */
  async function expectIndistinguishable(label: string, known: () => Probe, unknown: () => Probe, samples = SAMPLES) {
    const knownAnswer = await answerOf(known());
    const unknownAnswer = await answerOf(unknown());
    expect(unknownAnswer, `${label}: the answer for an unknown email`).to.deep.equal(knownAnswer);

    let result = await medians(known, unknown, samples);
    const ratio = () => Math.max(result.known, result.unknown) / Math.min(result.known, result.unknown) - 1;
    if (ratio() > TOLERANCE) result = await medians(known, unknown, samples);
    const summary = `${label}: median ${result.known.toFixed(1)} ms for a known email, ${result.unknown.toFixed(1)} ms for an unknown one`;
    console.log(`      ${summary}`);
    expect(ratio(), summary).to.be.at.most(TOLERANCE);
    return result;
  }

  it('login: a wrong password for a known email and any password for an unknown email look the same', async () => {
    const { known } = await expectIndistinguishable(
      'login',
      () => ({ method: 'POST', path: '/v1/auth/login', body: { email: verified.email, password: 'not the right passphrase' } }),
      () => ({ method: 'POST', path: '/v1/auth/login', body: { email: uniqueEmail('nobody'), password: 'not the right passphrase' } }),
    );
    // The measurement has teeth only when hashing is the larger part of an answer: the hash of a sign-in that
    // succeeds costs what a failing one does, so compare with a request that hashes nothing.
    const cheap = await medians(
      () => ({ method: 'POST', path: '/v1/auth/login', body: { email: 'not-an-email', password: 'x' } }),
      () => ({ method: 'POST', path: '/v1/auth/login', body: { email: 'not-an-email', password: 'x' } }),
      SAMPLES,
    );
    console.log(`      login without a hash: median ${cheap.known.toFixed(1)} ms`);
    expect(known, 'bcrypt at cost 8 must dominate a login (else a missing decoy would not show)').to.be.above(cheap.known * (1 + 2 * TOLERANCE));
  });

  it('login: the same for a known email in any letter case', async () => {
    const known = await answerOf({ method: 'POST', path: '/v1/auth/login', body: { email: verified.email.toUpperCase(), password: 'wrong passphrase here' } });
    const unknown = await answerOf({ method: 'POST', path: '/v1/auth/login', body: { email: uniqueEmail('nobody').toUpperCase(), password: 'wrong passphrase here' } });
    expect(unknown).to.deep.equal(known);
  });

  it('register: an email that has an account and a new one look the same', async () => {
    await expectIndistinguishable(
      'register',
      () => ({ method: 'POST', path: '/v1/auth/register', body: { email: verified.email, password: 'another fine passphrase' } }),
      () => ({ method: 'POST', path: '/v1/auth/register', body: { email: uniqueEmail('new'), password: 'another fine passphrase' } }),
    );
  });

  it('forgot-password: an email that has an account and one that has none look the same', async () => {
    await expectIndistinguishable(
      'forgot-password',
      () => ({ method: 'POST', path: '/v1/auth/password/forgot', body: { email: verified.email } }),
      () => ({ method: 'POST', path: '/v1/auth/password/forgot', body: { email: uniqueEmail('nobody') } }),
      SAMPLES_WITHOUT_HASH,
    );
  });

  it('email sign-in: an email that has an account and one that has none look the same', async () => {
    await expectIndistinguishable(
      'email-sign-in',
      () => ({ method: 'POST', path: '/v1/auth/email-sign-in', body: { email: verified.email } }),
      () => ({ method: 'POST', path: '/v1/auth/email-sign-in', body: { email: uniqueEmail('nobody') } }),
      SAMPLES_WITHOUT_HASH,
    );
  });

  it('resend-verification: a pending registration, a verified account and an unknown email look the same', async () => {
    await expectIndistinguishable(
      'resend-verification (pending)',
      () => ({ method: 'POST', path: '/v1/auth/resend-verification', body: { email: pendingEmail } }),
      () => ({ method: 'POST', path: '/v1/auth/resend-verification', body: { email: uniqueEmail('nobody') } }),
      SAMPLES_WITHOUT_HASH,
    );
    const verifiedAnswer = await answerOf({ method: 'POST', path: '/v1/auth/resend-verification', body: { email: verified.email } });
    const unknownAnswer = await answerOf({ method: 'POST', path: '/v1/auth/resend-verification', body: { email: uniqueEmail('nobody') } });
    expect(verifiedAnswer).to.deep.equal(unknownAnswer);
  });
});
