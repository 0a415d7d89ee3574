import { expect } from 'chai';
import { BlockedIpSchema } from '../../src/db/entities.js';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

/**
 * One IPv6 client usually holds a whole /64 (often more): per-IP limits keyed on the full address are walked past by
 * rotating the low 64 bits. Limits and blocks key IPv6 clients by their network (RATE_LIMIT_IPV6_PREFIX, 64 by
 * default), and an IPv4-mapped IPv6 address by its IPv4 address.
 */
describe('per-IP limits and IPv6 networks', () => {
  const from = (ip: string) => ({ 'x-forwarded-for': ip });

  describe('IP blocking', () => {
    let app: TestServer;
    before(async () => {
      app = await TestServer.start({ TRUST_PROXY: 'true', LOCKOUT_IP_THRESHOLD: '3', LOCKOUT_IP_SECONDS: '60', LOCKOUT_ACCOUNT_THRESHOLD: '100' });
    });
    after(() => app.stop());

    it('IPv6 address rotation: wrong passwords from many addresses of one /64 count as one client, and the whole /64 is blocked', async () => {
      const victim = await app.createUser();
      for (const ip of ['2001:db8:aa:1::1', '2001:db8:aa:1::2', '2001:db8:aa:1:ffff:ffff:ffff:3']) {
        const reply = await app.request('POST', '/v1/auth/login', { body: { email: uniqueEmail(), password: 'spray guess' }, headers: from(ip) });
        expect(reply.status, ip).to.equal(401);
      }
      const blocked = await app.request('POST', '/v1/auth/login', { body: { email: victim.email, password: victim.password }, headers: from('2001:db8:aa:1::4') });
      failWith(blocked, 429, 'too-many-failed-attempts');
      // The next network is another client.
      const neighbour = await app.request('POST', '/v1/auth/login', { body: { email: victim.email, password: victim.password }, headers: from('2001:db8:aa:2::1') });
      expect(neighbour.status).to.equal(200);

      const [row] = await app.services.orm.em.fork().find(BlockedIpSchema, { ip: '2001:db8:aa:1::/64' });
      expect(row, 'the block names the network').to.include({ failures: 3, unblockedAt: null });
      // Lifting the block by any address in it lifts it for the network.
      expect(await app.services.guard.unblockIp(app.services.orm.em.fork(), '2001:db8:aa:1::99')).to.equal(true);
      const lifted = await app.request('POST', '/v1/auth/login', { body: { email: victim.email, password: victim.password }, headers: from('2001:db8:aa:1::4') });
      expect(lifted.status).to.equal(200);
    });
  });

  describe('rate limits', () => {
    let app: TestServer;
    before(async () => {
      app = await TestServer.start({ TRUST_PROXY: 'true', RATE_LIMIT_PER_MINUTE: '3' });
    });
    after(() => app.stop());

    const forgot = (ip: string) => app.request('POST', '/v1/auth/password/forgot', { body: { email: uniqueEmail() }, headers: from(ip) });

    it('IPv6 address rotation: the per-IP rate limit holds across the addresses of one /64', async () => {
      const statuses = [];
      for (const ip of ['2001:db8:bb:1::1', '2001:db8:bb:1::2', '2001:db8:bb:1:1:2:3:4', '2001:db8:bb:1::5']) statuses.push((await forgot(ip)).status);
      expect(statuses).to.deep.equal([202, 202, 202, 429]);
      expect((await forgot('2001:db8:bb:2::1')).status).to.equal(202);
    });

    it('IPv4-mapped IPv6 addresses count as the IPv4 address they carry', async () => {
      const statuses = [];
      for (const ip of ['198.51.100.20', '::ffff:198.51.100.20', '::ffff:c633:6414', '198.51.100.20']) statuses.push((await forgot(ip)).status);
      expect(statuses).to.deep.equal([202, 202, 202, 429]);
    });
  });

  describe('with RATE_LIMIT_IPV6_PREFIX=128', () => {
    it('keys each IPv6 address on its own', async () => {
      const app = await TestServer.start({ TRUST_PROXY: 'true', RATE_LIMIT_PER_MINUTE: '1', RATE_LIMIT_IPV6_PREFIX: '128' });
      try {
        const forgot = (ip: string) => app.request('POST', '/v1/auth/password/forgot', { body: { email: uniqueEmail() }, headers: from(ip) });
        expect((await forgot('2001:db8:cc:1::1')).status).to.equal(202);
        expect((await forgot('2001:db8:cc:1::2')).status).to.equal(202);
        expect((await forgot('2001:db8:cc:1:0:0:0:1')).status, 'the same address written another way').to.equal(429);
      } finally {
        await app.stop();
      }
    });
  });
});
