import { expect } from 'chai';
import { resetPostgres } from '../helpers/postgres.js';
import { MailCatcher, tokenFrom } from '../helpers/mail-catcher.js';
import { responseProblems } from '../helpers/spec-validator.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { startServerProcess, type ServerProcess } from './processes.js';

const databaseUrl = process.env.TEST_DATABASE_URL;
const PASSWORD = 'a perfectly fine passphrase';
const ADMIN = `hooks-admin-${process.pid}@example.com`;

async function call(server: ServerProcess, method: string, path: string, options: { body?: unknown; token?: string } = {}) {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(server.baseUrl + path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  const contentType = response.headers.get('content-type');
  const body = text && /json/.test(contentType ?? '') ? JSON.parse(text) : text || undefined;
  expect(responseProblems(method, path.split('?')[0], response.status, contentType, body), `${method} ${path} → ${response.status} ${text.slice(0, 300)}`).to.deep.equal([]);
  return { status: response.status, body, text };
}

(databaseUrl ? describe : describe.skip)('webhooks from two instances on one PostgreSQL database', function () {
  this.timeout(120_000);
  const mail = new MailCatcher();
  const receiver = new WebhookReceiver();
  let a: ServerProcess;
  let b: ServerProcess;
  let token: string;

  before(async () => {
    await resetPostgres(databaseUrl!);
    const smtpPort = await mail.start();
    await receiver.start();
    const env = {
      DATABASE_URL: databaseUrl!,
      PUBLIC_URL: 'http://pulse-auth.test',
      APP_URL: 'http://app.test',
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      BCRYPT_COST: '4',
      PASSWORD_HASH_THREADS: '1',
      RATE_LIMIT_PER_MINUTE: '1000000',
      RATE_LIMIT_ACCOUNT_PER_HOUR: '1000000',
      RATE_LIMIT_STORE: 'database',
      ADMIN_EMAILS: ADMIN,
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      WEBHOOK_RETRY_SECONDS: '0.1',
      WEBHOOK_MAX_RETRY_SECONDS: '0.5',
      WEBHOOK_POLL_SECONDS: '0.1',
    };
    a = await startServerProcess(env);
    b = await startServerProcess(env);
    expect((await call(a, 'POST', '/v1/auth/register', { body: { email: ADMIN, password: PASSWORD } })).status).to.equal(202);
    const message = await mail.next(ADMIN, { subject: /Confirm/, timeoutMs: 20_000 });
    expect((await call(b, 'POST', '/v1/auth/verify-email', { body: { token: tokenFrom(message), password: PASSWORD } })).status).to.equal(200);
    token = (await call(a, 'POST', '/v1/auth/login', { body: { email: ADMIN, password: PASSWORD, refreshTokenDelivery: 'body' } })).body.accessToken;
  });

  after(async () => {
    const exits = await Promise.all([a?.stop('SIGTERM'), b?.stop('SIGTERM')]);
    await receiver.stop();
    await mail.stop();
    for (const exit of exits) if (exit) expect(exit, `${a?.output()}\n${b?.output()}`).to.deep.equal({ code: 0, signal: null });
  });

  it('delivers a burst of 500 events queued on both instances, each exactly once, each endpoint in order', async () => {
    const endpoints: string[] = [];
    for (const path of ['/first', '/second']) {
      const created = await call(a, 'POST', '/v1/admin/webhooks', { token, body: { url: receiver.url(path), events: ['webhook.ping'] } });
      expect(created.status, created.text).to.equal(201);
      receiver.secrets.set(path, [created.body.secret]);
      endpoints.push(created.body.id);
    }
    // 500 pings, 250 per endpoint, sent 10 at a time alternately to A and B.
    const jobs = Array.from({ length: 500 }, (_, i) => ({ on: i % 2 ? b : a, endpoint: endpoints[Math.floor(i / 2) % 2] }));
    /** Which batch queued each event: a batch is sent only once the one before has been answered. */
    const batchOf = new Map<string, number>();
    for (let i = 0; i < jobs.length; i += 10) {
      const replies = await Promise.all(jobs.slice(i, i + 10).map((job) => call(job.on, 'POST', `/v1/admin/webhooks/${job.endpoint}/ping`, { token })));
      for (const reply of replies) {
        expect(reply.status, reply.text).to.equal(202);
        batchOf.set(reply.body.eventId, i / 10);
      }
    }
    await receiver.waitFor((received) => received.length >= 500, 90_000);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // anything sent twice would arrive by now
    expect(receiver.unverified).to.deep.equal([]);
    expect(receiver.received).to.have.length(500);
    const ids = receiver.received.map((event) => event.id);
    expect(new Set(ids).size, 'every event id once').to.equal(500);
    for (const [index, endpoint] of endpoints.entries()) {
      let cursor: string | null = null;
      let count = 0;
      const queued: Array<{ id: string; eventId: string }> = [];
      do {
        const page: any = await call(b, 'GET', `/v1/admin/webhooks/${endpoint}/deliveries?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { token });
        for (const delivery of page.body.items) {
          expect(delivery).to.include({ status: 'delivered', attempts: 1 });
          expect(delivery.attemptLog).to.have.length(1);
          queued.push(delivery);
        }
        count += page.body.items.length;
        cursor = page.body.nextCursor;
      } while (cursor);
      expect(count).to.equal(250);
      // Events in order: one queued after another was answered arrives after it. (Pings of one batch are queued at
      // the same moment, on two instances: they have no order among themselves.)
      const batches = receiver.on(['/first', '/second'][index]).map((event) => batchOf.get(event.id)!);
      expect(batches, 'each batch after the one before').to.deep.equal([...batches].sort((x, y) => x - y));
      expect(queued).to.have.length(250);
    }
  });
});
