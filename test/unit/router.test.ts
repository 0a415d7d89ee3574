import { expect } from 'chai';
import { buildRouter } from '../../src/http/router.js';
import { loadSpec } from '../../src/http/spec.js';
import type { Handlers } from '../../src/http/operation.js';

describe('router built from the spec', () => {
  const spec = loadSpec().document as never;
  const handler = async () => ({ status: 200 }) as never;
  const allHandlers = () =>
    Object.fromEntries(
      Object.values((loadSpec().document as { paths: Record<string, Record<string, { operationId: string }>> }).paths).flatMap((item) =>
        Object.values(item).map((operation) => [operation.operationId, handler]),
      ),
    ) as unknown as Handlers;

  it('builds when every operation has exactly one handler', () => {
    expect(() => buildRouter(spec, allHandlers())).not.to.throw();
  });

  it('refuses to build when an operation has no handler', () => {
    const handlers = allHandlers() as unknown as Record<string, unknown>;
    delete handlers.login;
    expect(() => buildRouter(spec, handlers as unknown as Handlers)).to.throw(/operations without a handler: login/);
  });

  it('refuses to build when a handler has no operation', () => {
    const handlers = { ...allHandlers(), launchRockets: handler } as unknown as Handlers;
    expect(() => buildRouter(spec, handlers)).to.throw(/handlers without an operation: launchRockets/);
  });
});
