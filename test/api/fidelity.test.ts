import { expect } from 'chai';
import { loadSpec } from '../../src/http/spec.js';
import { TestServer } from '../helpers/server.js';

type Operation = { operationId: string; parameters?: Array<{ in: string; name: string } | { $ref: string }> };
const spec = loadSpec().document as unknown as { paths: Record<string, Record<string, Operation>> };
const operations = Object.entries(spec.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
    .map(([method, operation]) => ({ method: method.toUpperCase(), path, operationId: operation.operationId })),
);

/** A path of the template with plausible parameter values. */
const concrete = (template: string) =>
  template
    .replace('{userId}', '0b7e6f3c-2d55-4f0e-9d0a-8a4c1e2f3b4d')
    .replace('{sessionId}', '3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f')
    .replace('{provider}', 'google')
    .replace('{ip}', '203.0.113.5');

describe('spec and server agree', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start();
  });
  after(() => app.stop());

  it(`serves every one of the spec's ${operations.length} operations`, async () => {
    for (const { method, path, operationId } of operations) {
      const reply = await fetch(app.baseUrl + concrete(path), { method, redirect: 'manual' });
      const body = (reply.headers.get('content-type')?.includes('json') ? await reply.json() : undefined) as { detail?: string } | undefined;
      const unrouted = (reply.status === 404 && body?.detail === 'There is no such route.') || reply.status === 405;
      expect(unrouted, `${operationId}: ${method} ${path} → ${reply.status}`).to.equal(false);
    }
  });

  it('answers nothing outside the spec but the docs, the spec itself, the metrics and the hosted pages', async () => {
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/v1'],
      ['GET', '/v1/users'],
      ['GET', '/admin'],
      ['POST', '/v1/auth/login/extra'],
      ['GET', '/v2/me'],
      ['GET', '/.well-known/openid-configuration'],
      ['PUT', '/v1/me'],
      ['DELETE', '/v1/auth/login'],
    ]) {
      const reply = await fetch(app.baseUrl + path, { method });
      expect([404, 405], `${method} ${path}`).to.include(reply.status);
      expect(reply.headers.get('content-type')).to.match(/^application\/problem\+json/);
    }
    for (const path of ['/docs', '/openapi.yaml', '/openapi.json', '/metrics', '/verify-email', '/reset-password', '/oauth/complete']) {
      expect((await fetch(app.baseUrl + path)).status, path).to.equal(200);
    }
  });
});
