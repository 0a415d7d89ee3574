import { expect } from 'chai';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

/**
 * bcrypt is the costliest thing a request can make the server do. The hashing pool's queue is bounded
 * (PASSWORD_HASH_QUEUE): past it, a request is refused at once with 503 server-busy and Retry-After instead of
 * waiting behind an ever longer queue (and making every other sign-in wait). Operations that can refuse cheaply do
 * so before they hash.
 */
describe('bcrypt amplification', () => {
  describe('a bounded hashing queue', () => {
    let app: TestServer;
    before(async () => {
      // One slow thread and room for two waiting hashes; lockouts out of the way.
      app = await TestServer.start({
        BCRYPT_COST: '11',
        PASSWORD_HASH_THREADS: '1',
        PASSWORD_HASH_QUEUE: '2',
        LOCKOUT_IP_THRESHOLD: '1000',
        LOCKOUT_ACCOUNT_THRESHOLD: '1000',
      });
    });
    after(() => app.stop());

    it('bcrypt amplification: 20 sign-ins at once against one hashing thread get 503 server-busy with Retry-After past the queue, not an ever longer wait', async () => {
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => app.request('POST', '/v1/auth/login', { body: { email: uniqueEmail('flood'), password: 'a wrong passphrase' } })),
      );
      const statuses = replies.map((reply) => reply.status);
      const busy = replies.filter((reply) => reply.status === 503);
      // One hashing, two waiting: at least three were checked, and the rest were refused at once.
      expect(statuses.filter((status) => status === 401).length, statuses.join(',')).to.be.at.least(3);
      expect(busy.length, statuses.join(',')).to.be.at.least(1);
      expect(statuses.every((status) => status === 401 || status === 503), statuses.join(',')).to.equal(true);
      for (const reply of busy) {
        expect(reply.body.code).to.equal('server-busy');
        expect(Number(reply.headers.get('retry-after'))).to.be.at.least(1);
      }
      // Busy answers are not failed sign-ins, and the queue drains: the next sign-in works.
      const account = await app.createUser();
      expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: account.password } })).status).to.equal(200);
    });
  });

  describe('resetPassword', () => {
    let app: TestServer;
    before(async () => {
      app = await TestServer.start();
    });
    after(() => app.stop());

    it('bcrypt amplification: a garbage reset token is refused before any hash is made', async () => {
      const hasher = app.services.hasher;
      const original = hasher.hash;
      let hashes = 0;
      hasher.hash = (password) => {
        hashes += 1;
        return original(password);
      };
      try {
        const reply = await app.request('POST', '/v1/auth/password/reset', { body: { token: 'x'.repeat(43), password: 'a brand new passphrase' } });
        failWith(reply, 400, 'invalid-reset-token');
        expect(hashes, 'hashes made for a garbage token').to.equal(0);
      } finally {
        hasher.hash = original;
      }
    });
  });
});
