import { expect } from 'chai';
import { TestServer } from '../helpers/server.js';

/**
 * With response validation off (production), operations that take no input skip the request validator
 * (http/validation/inputless.ts). They must answer exactly as through the validator: these tests run the same
 * requests on a server with the validator on every request and on one with the shortcut.
 */
describe('operations without input, with and without the request validator', () => {
  let validating: TestServer;
  let production: TestServer;
  before(async () => {
    validating = await TestServer.start({ VALIDATE_RESPONSES: 'true' });
    production = await TestServer.start({ VALIDATE_RESPONSES: 'false' });
  });
  after(async () => {
    await validating.stop();
    await production.stop();
  });

  async function both(method: string, path: string, options: Parameters<TestServer['request']>[2] = {}, as?: { token: (app: TestServer) => Promise<string> }) {
    const replies = [];
    for (const app of [validating, production]) {
      const token = as ? await as.token(app) : undefined;
      replies.push(await app.request(method, path, { ...options, ...(token ? { token } : {}) }));
    }
    return replies;
  }

  const signedIn = {
    async token(app: TestServer) {
      const account = await app.createUser();
      return (await app.login(account.email, account.password)).accessToken;
    },
  };

  it('answers getHealth, getJwks and listProviders alike, ignoring a query string', async () => {
    for (const path of ['/health', '/.well-known/jwks.json?cache=1', '/v1/auth/providers']) {
      const [slow, fast] = await both('GET', path);
      expect(fast.status, path).to.equal(slow.status);
      expect(Object.keys(fast.body ?? {}), path).to.deep.equal(Object.keys(slow.body ?? {}));
    }
  });

  it('answers getMe alike with a token, without one, and with a body it does not take', async () => {
    const [slow, fast] = await both('GET', '/v1/me', {}, signedIn);
    expect([slow.status, fast.status]).to.deep.equal([200, 200]);
    const [slowAnonymous, fastAnonymous] = await both('GET', '/v1/me');
    expect([slowAnonymous.status, fastAnonymous.status]).to.deep.equal([401, 401]);
    expect(fastAnonymous.body.code).to.equal(slowAnonymous.body.code);
    const [slowPost, fastPost] = await both('POST', '/v1/me', { body: {} }, signedIn);
    expect(fastPost.status).to.equal(slowPost.status);
    expect(fastPost.body.code).to.equal(slowPost.body.code);
  });

  it('still takes another spelling of the path through the validator (and the router) as before', async () => {
    for (const path of ['/v1/me/', '/V1/ME']) {
      const [slow, fast] = await both('GET', path, {}, signedIn);
      expect(fast.status, path).to.equal(slow.status);
    }
  });
});
