import { expect } from 'chai';
import Koa from 'koa';
import type { AddressInfo } from 'node:net';
import { openApiValidator } from '../../src/http/openapi-validator.js';
import { operationResolver } from '../../src/http/router.js';
import { loadSpec } from '../../src/http/spec.js';
import type { AppState } from '../../src/http/context.js';

/** The server-side response check that the whole suite relies on (see test/helpers/root-hooks.ts) does catch drift. */
describe('response validation against the spec', () => {
  async function serve(body: unknown) {
    const errors: Error[] = [];
    const app = new Koa<AppState>();
    app.use(async (ctx, next) => {
      ctx.state.cookies = {};
      try {
        await next();
      } catch (error) {
        errors.push(error as Error);
        ctx.status = 500;
      }
    });
    app.use(operationResolver(loadSpec().document as never));
    app.use(openApiValidator({ spec: loadSpec().document, validateResponses: true }));
    app.use(async (ctx) => {
      ctx.body = body;
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const reply = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/health`);
      return { status: reply.status, errors };
    } finally {
      server.close();
    }
  }

  it('lets a response that matches the spec through', async () => {
    const { status, errors } = await serve({ status: 'ok' });
    expect(status).to.equal(200);
    expect(errors).to.deep.equal([]);
  });

  it('turns a response that breaks the spec into an error naming the operation', async () => {
    const { status, errors } = await serve({ status: 'fine', extra: 1 });
    expect(status).to.equal(500);
    expect(errors[0]?.message).to.match(/response of getHealth \(200\) does not match the spec/);
  });
});
