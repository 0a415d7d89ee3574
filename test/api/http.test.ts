import { expect } from 'chai';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

describe('HTTP behaviour shared by every operation', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start({ CORS_ORIGINS: 'https://app.example.com' });
  });
  after(() => app.stop());

  const raw = (path: string, init: RequestInit = {}) => fetch(app.baseUrl + path, init);
  const json = async (reply: Response): Promise<any> => reply.json();

  it('answers unknown routes with 404 problem+json', async () => {
    const reply = await raw('/v1/nothing-here');
    expect(reply.status).to.equal(404);
    expect(reply.headers.get('content-type')).to.match(/^application\/problem\+json/);
    expect((await json(reply)).code).to.equal('not-found');
  });

  it('answers a known route with the wrong method with 405 problem+json', async () => {
    const reply = await raw('/v1/auth/login', { method: 'GET' });
    expect(reply.status).to.equal(405);
    expect((await json(reply)).code).to.equal('method-not-allowed');
  });

  it('answers a body that is not JSON with 415, and broken JSON with 400 malformed-body', async () => {
    const wrongType = await app.request('POST', '/v1/auth/login', { rawBody: 'email=a@b.c', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    failWith(wrongType, 415, 'unsupported-media-type');
    const broken = await app.request('POST', '/v1/auth/login', { rawBody: '{"email": ', headers: { 'content-type': 'application/json' } });
    failWith(broken, 400, 'malformed-body');
    const notAnObject = await app.request('POST', '/v1/auth/login', { rawBody: '"just a string"', headers: { 'content-type': 'application/json' } });
    expect(notAnObject.status).to.equal(400);
  });

  it('answers an oversized body with 413 and does not read it all', async () => {
    const reply = await raw('/v1/auth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'a@example.com', password: 'x'.repeat(200_000) }),
    });
    expect(reply.status).to.equal(413);
    expect((await json(reply)).code).to.equal('payload-too-large');
  });

  it('never answers 500 to odd but well-formed input', async () => {
    const bodies = [
      [],
      null,
      { email: 'ünïcödé@exämple.com', password: '\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000' },
      { email: `${'a'.repeat(250)}@example.com`, password: 'a perfectly fine passphrase' },
      { email: 'a@example.com', password: '😀'.repeat(300) },
      { email: { $gt: '' }, password: 'a perfectly fine passphrase' },
    ];
    for (const path of ['/v1/auth/register', '/v1/auth/login', '/v1/auth/verify-email', '/v1/auth/refresh', '/v1/auth/logout']) {
      for (const body of bodies) {
        const reply = await raw(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        expect(reply.status, `${path} ${JSON.stringify(body).slice(0, 60)}`).to.be.below(500);
      }
    }
  });

  it('gives every response a request id, and keeps a sane one the caller sent', async () => {
    const generated = await raw('/health');
    expect(generated.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
    const kept = await raw('/health', { headers: { 'x-request-id': 'trace-1234abcd' } });
    expect(kept.headers.get('x-request-id')).to.equal('trace-1234abcd');
    const replaced = await raw('/health', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(replaced.headers.get('x-request-id')).not.to.contain(' ');
  });

  it('sends security headers', async () => {
    const reply = await raw('/v1/me');
    expect(reply.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(reply.headers.get('content-security-policy')).to.contain("default-src 'none'");
    expect(reply.headers.get('x-frame-options')).to.equal('SAMEORIGIN');
  });

  it('allows CORS only for configured origins', async () => {
    const allowed = await raw('/v1/auth/login', { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
    expect(allowed.headers.get('access-control-allow-origin')).to.equal('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-credentials')).to.equal('true');
    const foreign = await raw('/v1/auth/login', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(foreign.headers.get('access-control-allow-origin')).to.equal(null);
  });

  it('serves the spec as YAML and JSON, and the docs page with no third-party host', async () => {
    const yaml = await raw('/openapi.yaml');
    expect(yaml.status).to.equal(200);
    expect(await yaml.text()).to.match(/^openapi: 3\.0\.3/);
    const document = await json(await raw('/openapi.json'));
    expect(document.paths['/v1/auth/login'].post.operationId).to.equal('login');
    // Clients generated from the served document reach this deployment without a hand-set base URL.
    expect(document.servers).to.deep.equal([{ url: 'http://pulse-auth.test', description: 'This deployment' }]);
    expect(await raw('/openapi.yaml').then((reply) => reply.text())).to.contain('url: http://pulse-auth.test');

    const docs = await raw('/docs');
    expect(docs.status).to.equal(200);
    const csp = docs.headers.get('content-security-policy')!;
    expect(csp).to.contain("default-src 'none'").and.contain("connect-src 'self'");
    expect(csp).not.to.match(/https?:/);
    const html = await docs.text();
    expect(html).to.contain('Pulse Auth API');
    expect(html).not.to.match(/<script[^>]+src="https?:/); // the Redoc bundle is inline, not from a CDN
  });

  it('answers readiness and liveness', async () => {
    expect(await (await raw('/health')).json()).to.deep.equal({ status: 'ok' });
    expect(await (await raw('/ready')).json()).to.deep.equal({ status: 'ok', checks: { database: 'ok' } });
  });
});

describe('rate limits', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start({ RATE_LIMIT_PER_MINUTE: '3' });
  });
  after(() => app.stop());

  it('answers 429 with Retry-After once a client IP passes the limit of an operation', async () => {
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 4; i += 1) {
      last = await app.request('POST', '/v1/auth/login', { body: { email: uniqueEmail(), password: 'whatever it is' } });
      statuses.push(last.status);
    }
    expect(statuses).to.deep.equal([401, 401, 401, 429]);
    expect(last!.body.code).to.equal('rate-limited');
    expect(Number(last!.headers.get('retry-after'))).to.be.within(1, 60);
    // Each operation has its own budget.
    expect((await app.request('POST', '/v1/auth/resend-verification', { body: { email: uniqueEmail() } })).status).to.equal(202);
  });
});
