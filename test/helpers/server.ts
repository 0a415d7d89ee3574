import { createServer, type Server } from 'node:http';
import { resetPostgres } from './postgres.js';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { expect } from 'chai';
import { loadConfig } from '../../src/config/load.js';
import { createApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/services.js';
import { MailCatcher, tokenFrom } from './mail-catcher.js';
import { FakeClock } from './clock.js';
import { responseProblems } from './spec-validator.js';

export const usingPostgres = Boolean(process.env.TEST_DATABASE_URL);

/** Every response-validation failure any TestServer logged (checked once, after the whole suite: root-hooks.ts). */
export const responseViolations: string[] = [];
console.log(
  usingPostgres
    ? `API tests run on PostgreSQL (${new URL(process.env.TEST_DATABASE_URL!).host})`
    : 'API tests run on SQLite; the PostgreSQL run is skipped (set TEST_DATABASE_URL=postgres://... to run it)',
);

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  rawBody?: string;
  token?: string;
  headers?: Record<string, string>;
}

export interface ServerUrlOptions {
  publicUrlIsServer?: boolean;
  appUrlIsServer?: boolean;
}

/**
 * The real app on 127.0.0.1 with a fresh database (a temporary SQLite file, or TEST_DATABASE_URL reset to empty),
 * mail going over SMTP to a catcher, a fake clock and captured log lines. Every response it sees is checked
 * against the spec.
 */
export class TestServer {
  readonly mail = new MailCatcher();
  readonly clock = new FakeClock();
  readonly logs: string[] = [];
  services!: Services;
  baseUrl = '';
  private server?: Server;

  /**
   * `publicUrlIsServer`: PUBLIC_URL is this server's own `http://127.0.0.1:<port>` (the port is bound first), for
   * tests where something outside follows URLs the server builds from it (an OpenID provider's redirect back).
   * Otherwise PUBLIC_URL is `http://pulse-auth.test`, which nothing can reach. `appUrlIsServer`: the same for
   * APP_URL (the links in mail then open the hosted pages of this server, for browser tests).
   */
  static async start(env: Record<string, string> = {}, options: ServerUrlOptions = {}): Promise<TestServer> {
    const instance = new TestServer();
    await instance.boot(env, options);
    return instance;
  }

  private async boot(env: Record<string, string>, options: ServerUrlOptions) {
    if (options.publicUrlIsServer || options.appUrlIsServer) {
      this.server = createServer();
      await this.listen();
      if (options.publicUrlIsServer) env = { ...env, PUBLIC_URL: this.baseUrl };
      if (options.appUrlIsServer) env = { ...env, APP_URL: this.baseUrl };
    }
    const smtpPort = await this.mail.start();
    // A DATABASE_URL passed in means "share that database" (a second instance): it is used as it is.
    const shared = env.DATABASE_URL;
    const databaseUrl = shared ?? process.env.TEST_DATABASE_URL ?? `file:${join(mkdtempSync(join(tmpdir(), 'pulse-auth-test-')), 'test.sqlite')}`;
    if (usingPostgres && !shared) await resetPostgres(databaseUrl);
    const config = loadConfig({
      NODE_ENV: 'test',
      PUBLIC_URL: 'http://pulse-auth.test',
      APP_URL: 'http://app.test',
      DATABASE_URL: databaseUrl,
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      BCRYPT_COST: '4',
      PASSWORD_HASH_THREADS: '2',
      RATE_LIMIT_PER_MINUTE: '100000',
      RATE_LIMIT_ACCOUNT_PER_HOUR: '100000',
      LOG_LEVEL: 'debug',
      ...env,
    });
    const sink = new Writable({
      write: (chunk, _encoding, callback) => {
        this.logs.push(chunk.toString());
        callback();
      },
    });
    const logger = pino({ level: config.LOG_LEVEL }, sink);
    this.services = await createServices(config, { logger, clock: this.clock });
    const handler = createApp(this.services).callback();
    if (this.server) {
      this.server.on('request', handler);
    } else {
      this.server = createServer(handler);
      await this.listen();
    }
  }

  private async listen() {
    this.server!.listen(0, '127.0.0.1');
    await once(this.server!, 'listening');
    this.baseUrl = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const line of this.logs) if (line.includes('does not match the spec')) responseViolations.push(line.slice(0, 1000));
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
    await this.services?.close();
    await this.mail.stop();
  }

  /** Sends a request and checks the response against the spec (status documented, body valid). */
  async request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-type'] ??= 'application/json';
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const response = await fetch(this.baseUrl + path, {
      method,
      headers,
      body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
      redirect: 'manual',
    });
    const text = await response.text();
    const contentType = response.headers.get('content-type');
    const body = text && /json/.test(contentType ?? '') ? JSON.parse(text) : text || undefined;
    const problems = responseProblems(method, path.split('?')[0], response.status, contentType, body);
    expect(problems, `${method} ${path} → ${response.status} ${text.slice(0, 300)}`).to.deep.equal([]);
    if (response.status >= 400) {
      expect(contentType, `${method} ${path} error media type`).to.match(/^application\/problem\+json/);
    }
    return { status: response.status, headers: response.headers, body: body as T, text };
  }

  /** Registers, reads the link from the mail, verifies: a new account. */
  async createUser(options: { email?: string; password?: string; name?: string } = {}) {
    const email = options.email ?? uniqueEmail();
    const password = options.password ?? 'a perfectly fine passphrase';
    const before = this.mail.mails.length;
    const registered = await this.request('POST', '/v1/auth/register', { body: { email, password, ...(options.name ? { name: options.name } : {}) } });
    expect(registered.status).to.equal(202);
    const mail = await this.mail.next(email, { subject: /Confirm/, after: before });
    const verified = await this.request('POST', '/v1/auth/verify-email', { body: { token: tokenFrom(mail), password } });
    expect(verified.status).to.equal(200);
    return { email, password, user: verified.body };
  }

  async login(email: string, password: string, delivery: 'body' | 'cookie' = 'body', headers: Record<string, string> = {}) {
    const reply = await this.request('POST', '/v1/auth/login', { body: { email, password, refreshTokenDelivery: delivery }, headers });
    expect(reply.status, reply.text).to.equal(200);
    return reply.body as { accessToken: string; refreshToken?: string; session: { id: string }; user: { id: string } };
  }

  /** Every line the app logged, parsed (each one must be JSON). */
  logLines(): Array<Record<string, any>> {
    return this.logText()
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line));
  }

  /** Everything the app logged, as one string (for leak checks). */
  logText(): string {
    return this.logs.join('');
  }
}

let counter = 0;
export const uniqueEmail = (prefix = 'user') => `${prefix}-${process.pid}-${Date.now()}-${++counter}@example.com`;

/** The `Set-Cookie` header for the refresh cookie, if any. */
export function refreshCookie(headers: Headers): string | undefined {
  return headers.getSetCookie().find((cookie) => cookie.startsWith('pulse_auth_refresh='));
}
