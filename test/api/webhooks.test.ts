import { expect } from 'chai';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { failWith } from '../helpers/assertions.js';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js';
import { WebhookReceiver, verifies, type ReceivedEvent } from '../helpers/webhook-receiver.js';
import { refusedAddress } from '../../src/domain/webhooks/url-guard.js';
import { WEBHOOK_EVENT_TYPES } from '../../src/domain/webhooks/event-types.js';
import { jobs, runJob } from '../../src/jobs/scheduler.js';
import { WebhookAttemptSchema, WebhookDeliverySchema, WebhookEventSchema } from '../../src/db/entities.js';

/** Small backoff, quick polling: the retries of a day take a second here. */
const WEBHOOK_ENV = {
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  WEBHOOK_RETRY_SECONDS: '0.05',
  WEBHOOK_MAX_RETRY_SECONDS: '0.3',
  WEBHOOK_POLL_SECONDS: '0.05',
  WEBHOOK_MAX_ATTEMPTS: '30',
};

describe('event webhooks (adminCreateWebhook … adminPingWebhook) and their delivery', () => {
  let app: TestServer;
  let receiver: WebhookReceiver;
  let admin: { email: string; password: string; token: string; id: string };
  const adminEmail = uniqueEmail('hooks-root');

  before(async () => {
    receiver = await new WebhookReceiver().start();
    app = await TestServer.start({
      ...WEBHOOK_ENV,
      ADMIN_EMAILS: adminEmail,
      LOCKOUT_ACCOUNT_THRESHOLD: '2',
      LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD: '2',
      LOCKOUT_ACCOUNT_SECONDS: '60',
    });
    app.services.webhooks.start();
    const account = await app.createUser({ email: adminEmail });
    const login = await app.login(account.email, account.password);
    admin = { ...account, token: login.accessToken, id: login.user.id };
  });
  after(async () => {
    await app?.stop();
    await receiver?.stop();
  });

  const asAdmin = (method: string, path: string, body?: unknown) => app.request(method, path, { token: admin.token, ...(body ? { body } : {}) });

  /** A subscribed endpoint at `path` of the receiver; the receiver learns its secret. */
  async function subscribe(path: string, events: string[] = ['*'], to = receiver) {
    const created = await asAdmin('POST', '/v1/admin/webhooks', { url: to.url(path), events, description: `test ${path}` });
    expect(created.status, created.text).to.equal(201);
    expect(created.body.secret).to.match(/^whsec_[A-Za-z0-9+/=]+$/);
    to.secrets.set(path, [created.body.secret]);
    return created.body as { id: string; secret: string };
  }

  const deliveriesOf = async (webhookId: string) => {
    const page = await asAdmin('GET', `/v1/admin/webhooks/${webhookId}/deliveries?limit=100`);
    expect(page.status, page.text).to.equal(200);
    return page.body.items as Array<Record<string, any>>;
  };

  describe('administration', () => {
    it('creates, reads, lists, changes and deletes an endpoint, and shows its secret only at creation', async () => {
      const created = await subscribe('/crud', ['user.created']);
      const read = await asAdmin('GET', `/v1/admin/webhooks/${created.id}`);
      expect(read.status).to.equal(200);
      expect(read.body).to.not.have.property('secret');
      expect(read.text).to.not.include(created.secret);
      expect(read.body.events).to.deep.equal(['user.created']);
      const listed = await asAdmin('GET', '/v1/admin/webhooks');
      expect(listed.body.items.map((item: { id: string }) => item.id)).to.include(created.id);
      expect(listed.text).to.not.include('whsec_');
      const changed = await asAdmin('PATCH', `/v1/admin/webhooks/${created.id}`, { enabled: false, events: ['user.deleted', 'user.restored'] });
      expect(changed.body).to.include({ enabled: false });
      expect(changed.body.events).to.deep.equal(['user.deleted', 'user.restored']);
      expect((await asAdmin('DELETE', `/v1/admin/webhooks/${created.id}`)).status).to.equal(204);
      failWith(await asAdmin('GET', `/v1/admin/webhooks/${created.id}`), 404, 'not-found');
    });

    it('keeps the secrets sealed in the database: no whsec_ in the row', async () => {
      const created = await subscribe('/sealed', ['webhook.ping']);
      const rows = await app.services.orm.em.fork().getConnection().execute('select * from webhook_endpoints where id = ?', [created.id]);
      expect(JSON.stringify(rows)).to.not.include(created.secret.slice(6));
      expect(JSON.stringify(rows)).to.not.include('whsec_');
    });

    it('needs the admin role', async () => {
      const user = await app.createUser();
      const { accessToken } = await app.login(user.email, user.password);
      failWith(await app.request('GET', '/v1/admin/webhooks', { token: accessToken }), 403, 'forbidden');
      failWith(await app.request('POST', '/v1/admin/webhooks', { body: { url: receiver.url('/x'), events: ['*'] } }), 401, 'authentication-required');
    });
  });

  describe('the private-network rule', () => {
    it('refuses loopback, private, link-local, CGNAT, metadata, unspecified and IPv4-mapped addresses, and passes public ones', () => {
      for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '100.100.100.200', '0.0.0.0', '255.255.255.255', '224.0.0.1', '::1', '::', 'fe80::1', 'fd00:ec2::254', 'fc00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '64:ff9b::a00:1', '2002:a00:1::']) {
        expect(refusedAddress(address), address).to.be.a('string');
      }
      for (const address of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
        expect(refusedAddress(address), address).to.equal(null);
      }
    });

    it('with WEBHOOK_ALLOW_PRIVATE_NETWORKS, delivers to a host name too (resolved and connected to by the checking lookup)', async () => {
      // A receiver of its own: the agent keeps connections open per origin, and the next test must open a new one.
      const named = await new WebhookReceiver().start();
      try {
        const created = await asAdmin('POST', '/v1/admin/webhooks', { url: `http://localhost:${named.port}/by-name`, events: ['webhook.ping'] });
        expect(created.status, created.text).to.equal(201);
        named.secrets.set('/by-name', [created.body.secret]);
        await asAdmin('POST', `/v1/admin/webhooks/${created.body.id}/ping`);
        await named.waitFor(() => named.on('/by-name').length === 1);
        await asAdmin('DELETE', `/v1/admin/webhooks/${created.body.id}`);
      } finally {
        await named.stop();
      }
    });

    it('refuses again at send time: a delivery to an address that became private fails without a request', async () => {
      const created = await subscribe('/became-private', ['webhook.ping']);
      const byName = await asAdmin('POST', '/v1/admin/webhooks', { url: `http://localhost:${receiver.port}/became-private-by-name`, events: ['webhook.ping'] });
      const strictDeliverer = app.services.webhooks as unknown as { options: { allowPrivateNetworks: boolean } };
      strictDeliverer.options.allowPrivateNetworks = false;
      try {
        for (const id of [created.id, byName.body.id]) {
          await asAdmin('POST', `/v1/admin/webhooks/${id}/ping`);
          await waitUntil(async () => (await deliveriesOf(id))[0]?.attemptLog.length > 0);
          const [delivery] = await deliveriesOf(id);
          expect(delivery.attemptLog[0]).to.include({ outcome: 'failure', responseStatus: null });
          expect(delivery.attemptLog[0].error).to.match(/address refused/);
        }
        expect(receiver.received.filter((event) => event.path.startsWith('/became-private'))).to.have.length(0);
      } finally {
        strictDeliverer.options.allowPrivateNetworks = true;
      }
      await asAdmin('DELETE', `/v1/admin/webhooks/${created.id}`);
      await asAdmin('DELETE', `/v1/admin/webhooks/${byName.body.id}`);
    });
  });

  describe('events', () => {
    const everything = '/everything';
    const onlyCreated = '/only-created';
    let all: { id: string };

    before(async () => {
      all = await subscribe(everything, ['*']);
      await subscribe(onlyCreated, ['user.created']);
    });

    it('sends an event of every type the suite can trigger, each signed, each once, in order', async function () {
      this.timeout(30_000);
      // user.created, session.created
      const person = await app.createUser({ name: 'Ada' });
      let { accessToken } = await app.login(person.email, person.password);
      // user.updated
      expect((await app.request('PATCH', '/v1/me', { token: accessToken, body: { name: 'Ada L.' } })).status).to.equal(200);
      // mfa.enabled, mfa.disabled (email codes)
      expect((await app.request('PUT', '/v1/me/mfa/email', { token: accessToken, body: { password: person.password } })).status).to.equal(200);
      expect((await app.request('DELETE', '/v1/me/mfa/email', { token: accessToken, body: { password: person.password } })).status).to.equal(204);
      // passkey.added, passkey.removed
      const authenticator = new SoftwareAuthenticator('http://app.test');
      const started = await app.request('POST', '/v1/me/passkeys/options', { token: accessToken, body: { password: person.password } });
      const made = authenticator.register(started.body.options);
      const added = await app.request('POST', '/v1/me/passkeys', { token: accessToken, body: { challengeId: started.body.challengeId, credential: made.json } });
      expect(added.status, added.text).to.equal(201);
      expect((await app.request('DELETE', `/v1/me/passkeys/${added.body.id}`, { token: accessToken })).status).to.equal(204);
      // password.changed (+ session.revoked of the other session)
      await app.login(person.email, person.password);
      const newPassword = 'an even better passphrase';
      expect((await app.request('POST', '/v1/auth/password/change', { token: accessToken, body: { currentPassword: person.password, newPassword } })).status).to.equal(204);
      // password.reset
      const before = app.mail.mails.length;
      await app.request('POST', '/v1/auth/password/forgot', { body: { email: person.email } });
      const resetMail = await app.mail.next(person.email, { subject: /reset/i, after: before });
      const resetPassword = 'the third passphrase of the day';
      expect((await app.request('POST', '/v1/auth/password/reset', { body: { token: tokenFrom(resetMail), password: resetPassword } })).status).to.equal(204);
      // session.revoked (logout)
      ({ accessToken } = await app.login(person.email, resetPassword));
      expect((await app.request('POST', '/v1/auth/logout', { token: accessToken, body: {} })).status).to.equal(204);
      // user.locked (failed sign-ins, locked for everyone)
      for (let i = 0; i < 3; i += 1) await app.request('POST', '/v1/auth/login', { body: { email: person.email, password: 'not the password at all' } });
      // user.locked (admin), user.updated, user.deleted, user.restored
      expect((await asAdmin('PATCH', `/v1/admin/users/${person.user.id}`, { locked: true })).status).to.equal(200);
      expect((await asAdmin('DELETE', `/v1/admin/users/${person.user.id}`)).status).to.equal(204);
      expect((await asAdmin('POST', `/v1/admin/users/${person.user.id}/restore`)).status).to.equal(200);
      // webhook.ping
      expect((await asAdmin('POST', `/v1/admin/webhooks/${all.id}/ping`)).status).to.equal(202);

      const expected = ['user.created', 'session.created', 'user.updated', 'mfa.enabled', 'mfa.disabled', 'passkey.added', 'passkey.removed', 'password.changed', 'session.revoked', 'password.reset', 'user.locked', 'user.deleted', 'user.restored', 'webhook.ping'];
      await receiver.waitFor(() => expected.every((type) => receiver.on(everything).some((event) => event.event.type === type)), 20_000);
      await app.services.webhooks.idle();
      const received = receiver.on(everything);
      expect(receiver.unverified).to.deep.equal([]);
      const ids = received.map((event) => event.id);
      expect(new Set(ids).size, 'each event once').to.equal(ids.length);
      // In the order of their events (ids are time-ordered).
      expect(ids).to.deep.equal([...ids].sort());
      for (const event of received) {
        expect(event.event.id).to.equal(event.id);
        expect(WEBHOOK_EVENT_TYPES).to.include(event.event.type);
        expect(event.signatures).to.have.length(1);
      }
      const about = received.filter((event) => JSON.stringify(event.event.data).includes(person.user.id));
      expect(about.find((event) => event.event.type === 'user.created')!.event.data.user).to.include({ email: person.email, name: 'Ada' });
      expect(about.find((event) => event.event.type === 'user.updated')!.event.data.user).to.include({ name: 'Ada L.' });
      expect(about.filter((event) => event.event.type === 'user.locked').map((event) => event.event.data.reason)).to.deep.equal(['failed-sign-ins', 'admin']);
      expect(about.find((event) => event.event.type === 'session.revoked' && event.event.data.reason === 'logout')).to.exist;
      expect(about.find((event) => event.event.type === 'session.revoked' && event.event.data.reason === 'password-changed')).to.exist;
      expect(about.find((event) => event.event.type === 'mfa.enabled')!.event.data).to.deep.equal({ userId: person.user.id, method: 'email' });
    });

    it('sends the organization and invitation events, from the change that causes each, in order', async function () {
      this.timeout(30_000);
      const path = '/organizations';
      await subscribe(path, ['organization.*', 'invitation.*'].flatMap((prefix) => WEBHOOK_EVENT_TYPES.filter((type) => type.startsWith(prefix.slice(0, -1)))));
      const owner = await app.createUser();
      const ownerToken = (await app.login(owner.email, owner.password)).accessToken;
      const guest = await app.createUser();
      const guestToken = (await app.login(guest.email, guest.password)).accessToken;
      const as = (token: string, method: string, url: string, body?: unknown) => app.request(method, url, { token, ...(body ? { body } : {}) });
      const org = await as(ownerToken, 'POST', '/v1/orgs', { name: 'Hooked Ltd' });
      expect(org.status, org.text).to.equal(201);
      const orgId = org.body.id;
      expect((await as(ownerToken, 'PATCH', `/v1/orgs/${orgId}`, { name: 'Hooked Limited' })).status).to.equal(200);
      const mailsBefore = app.mail.mails.length;
      expect((await as(ownerToken, 'POST', `/v1/orgs/${orgId}/invitations`, { email: guest.email, role: 'member' })).status).to.equal(201);
      // Re-inviting replaces the pending invitation: the first one is revoked.
      const second = await as(ownerToken, 'POST', `/v1/orgs/${orgId}/invitations`, { email: guest.email, role: 'admin' });
      expect(second.status, second.text).to.equal(201);
      const firstMail = await app.mail.next(guest.email, { subject: /^Join /, after: mailsBefore });
      const invitationMail = await app.mail.next(guest.email, { subject: /^Join /, after: app.mail.mails.indexOf(firstMail) + 1 });
      const accepted = await as(guestToken, 'POST', '/v1/invitations/accept', { token: tokenFrom(invitationMail) });
      expect(accepted.status, accepted.text).to.equal(200);
      expect((await as(ownerToken, 'PATCH', `/v1/orgs/${orgId}/members/${guest.user.id}`, { role: 'member' })).status).to.equal(200);
      expect((await as(ownerToken, 'DELETE', `/v1/orgs/${orgId}/members/${guest.user.id}`)).status).to.equal(204);
      const third = await as(ownerToken, 'POST', `/v1/orgs/${orgId}/invitations`, { email: uniqueEmail('hook-invitee'), role: 'member' });
      expect((await as(ownerToken, 'DELETE', `/v1/orgs/${orgId}/invitations/${third.body.id}`)).status).to.equal(204);
      expect((await as(ownerToken, 'DELETE', `/v1/orgs/${orgId}`)).status).to.equal(204);

      const expected = [
        'organization.created', 'organization.member.added', 'organization.updated', 'invitation.created', 'invitation.revoked', 'invitation.created',
        'invitation.accepted', 'organization.member.added', 'organization.member.updated', 'organization.member.removed', 'invitation.created',
        'invitation.revoked', 'organization.deleted',
      ];
      await receiver.waitFor(() => receiver.on(path).length >= expected.length, 20_000);
      await app.services.webhooks.idle();
      const received = receiver.on(path);
      expect(receiver.unverified).to.deep.equal([]);
      expect(received.map((event) => event.event.type)).to.deep.equal(expected);
      const data = received.map((event) => event.event.data);
      expect(data[0].organization).to.include({ id: orgId, name: 'Hooked Ltd' });
      expect(data[2].organization).to.include({ id: orgId, name: 'Hooked Limited' });
      expect(data[1].membership).to.include({ organizationId: orgId, userId: owner.user.id, role: 'owner' });
      expect(data[3].invitation).to.include({ organizationId: orgId, email: guest.email, role: 'member' });
      expect(data[7].membership).to.include({ userId: guest.user.id, role: 'admin' });
      expect(data[8].membership).to.include({ userId: guest.user.id, role: 'member' });
      for (const event of received) expect(JSON.stringify(event.event.data)).to.not.match(/token|hash/i);
    });

    it('filters by event type: an endpoint of user.created gets only those', async () => {
      await app.createUser();
      await receiver.waitFor(() => receiver.on(onlyCreated).length >= 2);
      await app.services.webhooks.idle();
      expect(new Set(receiver.on(onlyCreated).map((event) => event.event.type))).to.deep.equal(new Set(['user.created']));
    });

    it('never carries a password, hash, secret or token in a payload (every delivered body walked)', async () => {
      expect(receiver.received.length).to.be.greaterThan(10);
      const forbiddenKey = /password|hash|secret|token|otp|code|credential|publicKey/i;
      const walk = (value: unknown, where: string): void => {
        if (Array.isArray(value)) value.forEach((item, index) => walk(item, `${where}[${index}]`));
        else if (value && typeof value === 'object') {
          for (const [key, inner] of Object.entries(value)) {
            expect(key, where).to.not.match(forbiddenKey);
            walk(inner, `${where}.${key}`);
          }
        } else if (typeof value === 'string') {
          expect(value, where).to.not.match(/^\$2[aby]\$|whsec_|^eyJ|a perfectly fine passphrase|better passphrase|third passphrase/);
        }
      };
      for (const event of receiver.received) walk(event.event, event.event.type);
    });
  });

  describe('retries', () => {
    it('retries a 500 and records every attempt: status, response code, duration, body', async () => {
      const created = await subscribe('/flaky', ['webhook.ping']);
      let calls = 0;
      const previous = receiver.respond;
      receiver.respond = (path, event) => (path === '/flaky' && ++calls === 1 ? 500 : previous(path, event));
      try {
        await asAdmin('POST', `/v1/admin/webhooks/${created.id}/ping`);
        await receiver.waitFor(() => receiver.on('/flaky').length === 1);
        await app.services.webhooks.idle();
      } finally {
        receiver.respond = previous;
      }
      const [delivery] = await deliveriesOf(created.id);
      expect(delivery).to.include({ status: 'delivered', attempts: 2, lastResponseStatus: 200, eventType: 'webhook.ping', nextAttemptAt: null });
      expect(delivery.attemptLog.map((attempt: any) => [attempt.outcome, attempt.responseStatus])).to.deep.equal([['failure', 500], ['success', 200]]);
      expect(delivery.attemptLog[0].responseBody).to.equal('status 500');
      expect(delivery.attemptLog[0].durationMs).to.be.a('number');
      const delivered = await asAdmin('GET', `/v1/admin/webhooks/${created.id}/deliveries?status=delivered`);
      expect(delivered.body.items).to.have.length(1);
      // Redelivery sends the same event (same webhook-id) again.
      const again = await asAdmin('POST', `/v1/admin/webhooks/${created.id}/deliveries/${delivery.id}/redeliver`);
      expect(again.status).to.equal(202);
      await receiver.waitFor(() => receiver.on('/flaky').length === 2);
      const [first, second] = receiver.on('/flaky');
      expect(second.id).to.equal(first.id);
    });

    it('counts a redirect as a failure and does not follow it', async () => {
      const created = await subscribe('/redirect', ['webhook.ping']);
      const previous = receiver.respond;
      receiver.respond = (path, event) => (path === '/redirect' ? 302 : previous(path, event));
      try {
        await asAdmin('POST', `/v1/admin/webhooks/${created.id}/ping`);
        await waitUntil(async () => (await deliveriesOf(created.id))[0]?.attemptLog.length >= 1);
        const [delivery] = await deliveriesOf(created.id);
        expect(delivery.attemptLog[0]).to.include({ outcome: 'failure', responseStatus: 302 });
        expect(delivery.attemptLog[0].error).to.match(/redirect/);
      } finally {
        receiver.respond = previous;
        await asAdmin('DELETE', `/v1/admin/webhooks/${created.id}`);
      }
    });

    it('loses nothing while the receiver is down, and delivers in order once it is back', async function () {
      this.timeout(20_000);
      const down = await new WebhookReceiver().start();
      const port = down.port;
      const created = await subscribe('/down', ['webhook.ping'], down);
      const secrets = down.secrets;
      await down.stop();
      for (let i = 0; i < 5; i += 1) expect((await asAdmin('POST', `/v1/admin/webhooks/${created.id}/ping`)).status).to.equal(202);
      await waitUntil(async () => (await deliveriesOf(created.id)).some((delivery) => delivery.attempts >= 2));
      const back = new WebhookReceiver();
      for (const [path, value] of secrets) back.secrets.set(path, value);
      await back.start(port);
      try {
        await back.waitFor(() => back.on('/down').length === 5, 15_000);
        // The receiver counts a delivery when it arrives; the server records it once the 200 is back.
        await waitUntil(async () => (await deliveriesOf(created.id)).every((delivery) => delivery.status === 'delivered'));
        const deliveries = await deliveriesOf(created.id);
        expect(deliveries.every((delivery) => delivery.status === 'delivered')).to.equal(true);
        // Newest first in the list; oldest first on the wire.
        const inEventOrder = deliveries.map((delivery) => delivery.eventId).reverse();
        expect(back.on('/down').map((event) => event.id)).to.deep.equal(inEventOrder);
        expect(deliveries.at(-1)!.attemptLog.filter((attempt: any) => attempt.outcome === 'failure').length).to.be.greaterThan(0);
      } finally {
        await back.stop();
      }
    });

  });

  describe('secret rotation', () => {
    it('signs with both secrets for 24 hours, then with the new one alone', async () => {
      const created = await subscribe('/rotation', ['webhook.ping']);
      const rotated = await asAdmin('POST', `/v1/admin/webhooks/${created.id}/rotate-secret`);
      expect(rotated.status).to.equal(200);
      expect(rotated.body.secret).to.match(/^whsec_/).and.not.equal(created.secret);
      expect(rotated.body.previousSecretExpiresAt).to.be.a('string');
      receiver.secrets.set('/rotation', [rotated.body.secret]);
      await asAdmin('POST', `/v1/admin/webhooks/${created.id}/ping`);
      await receiver.waitFor(() => receiver.on('/rotation').length === 1);
      const [during] = receiver.on('/rotation');
      expect(during.signatures).to.have.length(2);
      const headers = (event: ReceivedEvent) => ({ 'webhook-id': event.id, 'webhook-timestamp': String(event.timestamp), 'webhook-signature': event.signatures.join(' ') });
      expect(verifies(created.secret, headers(during), during.body), 'old secret during the overlap').to.equal(true);
      expect(verifies(rotated.body.secret, headers(during), during.body), 'new secret').to.equal(true);

      app.clock.advance(24 * 3600 + 1);
      admin.token = (await app.login(admin.email, admin.password)).accessToken;
      expect((await asAdmin('GET', `/v1/admin/webhooks/${created.id}`)).body.previousSecretExpiresAt).to.equal(null);
      await asAdmin('POST', `/v1/admin/webhooks/${created.id}/ping`);
      await receiver.waitFor(() => receiver.on('/rotation').length === 2);
      const after = receiver.on('/rotation')[1];
      expect(after.signatures).to.have.length(1);
      expect(verifies(created.secret, headers(after), after.body), 'old secret after 24 h').to.equal(false);
      expect(verifies(rotated.body.secret, headers(after), after.body)).to.equal(true);
    });
  });

  describe('retention', () => {
    it('removes deliveries delivered or failed more than WEBHOOK_RETENTION_DAYS ago, their attempts and their events; keeps those waiting', async () => {
      const waiting = await subscribe('/never', ['webhook.ping'], await new WebhookReceiver().start().then(async (gone) => (await gone.stop(), gone)));
      await asAdmin('POST', `/v1/admin/webhooks/${waiting.id}/ping`);
      await app.services.webhooks.idle();
      const em = () => app.services.orm.em.fork();
      const before = await em().count(WebhookDeliverySchema, {});
      app.clock.advance(31 * 86_400);
      const job = jobs(app.services).find((candidate) => candidate.name === 'delete-old-webhook-deliveries')!;
      const counts = await runJob(app.services, job);
      expect(counts).to.have.property('webhookDeliveries').that.is.greaterThan(0);
      expect(counts).to.have.property('webhookEvents').that.is.greaterThan(0);
      const left = await em().find(WebhookDeliverySchema, {});
      expect(left.length).to.be.lessThan(before);
      expect(left.every((delivery) => delivery.deliveredAt === null && delivery.failedAt === null)).to.equal(true);
      expect(left.map((delivery) => delivery.endpointId)).to.include(waiting.id);
      expect(await em().count(WebhookAttemptSchema, { deliveryId: { $nin: left.map((delivery) => delivery.id) } })).to.equal(0);
      expect(await em().count(WebhookEventSchema, { id: { $in: left.map((delivery) => delivery.eventId) } })).to.equal(new Set(left.map((delivery) => delivery.eventId)).size);
    });
  });
});

/** Apps of their own, one at a time (each resets the PostgreSQL test database as it starts). */
describe('event webhooks: the rule without WEBHOOK_ALLOW_PRIVATE_NETWORKS, the last attempt, a restart', () => {
  it('refuses a URL on 127.0.0.1, localhost or a private address without WEBHOOK_ALLOW_PRIVATE_NETWORKS, at save', async () => {
    const strict = await TestServer.start({ ADMIN_EMAILS: 'strict-root@example.com' });
    try {
      const account = await strict.createUser({ email: 'strict-root@example.com' });
      const { accessToken } = await strict.login(account.email, account.password);
      for (const url of ['http://127.0.0.1:9/private', 'http://localhost:9/x', 'http://10.0.0.7/hook', 'http://[::ffff:127.0.0.1]/hook', 'http://169.254.169.254/latest']) {
        const refused = await strict.request('POST', '/v1/admin/webhooks', { token: accessToken, body: { url, events: ['*'] } });
        failWith(refused, 422, 'webhook-url-refused', url);
        expect(refused.body.detail).to.include('WEBHOOK_ALLOW_PRIVATE_NETWORKS');
      }
      failWith(await strict.request('POST', '/v1/admin/webhooks', { token: accessToken, body: { url: 'ftp://example.com/x', events: ['*'] } }), 422, 'webhook-url-refused');
    } finally {
      await strict.stop();
    }
  });

  it('marks a delivery failed after WEBHOOK_MAX_ATTEMPTS', async function () {
    const limited = await TestServer.start({ ...WEBHOOK_ENV, WEBHOOK_MAX_ATTEMPTS: '3', ADMIN_EMAILS: 'limited-root@example.com' });
    try {
      limited.services.webhooks.start();
      const account = await limited.createUser({ email: 'limited-root@example.com' });
      const { accessToken } = await limited.login(account.email, account.password);
      const created = await limited.request('POST', '/v1/admin/webhooks', { token: accessToken, body: { url: 'http://127.0.0.1:9/nothing', events: ['webhook.ping'] } });
      await limited.request('POST', `/v1/admin/webhooks/${created.body.id}/ping`, { token: accessToken });
      let deliveries: any[] = [];
      await waitUntil(async () => {
        deliveries = (await limited.request('GET', `/v1/admin/webhooks/${created.body.id}/deliveries`, { token: accessToken })).body.items;
        return deliveries[0]?.status === 'failed';
      });
      expect(deliveries[0]).to.include({ attempts: 3, nextAttemptAt: null });
      expect(deliveries[0].attemptLog).to.have.length(3);
    } finally {
      await limited.stop();
    }
  });
  it('delivers after a restart what was pending when the server stopped', async function () {
    this.timeout(20_000);
    const first = await TestServer.start({ ...WEBHOOK_ENV, ADMIN_EMAILS: 'restart-root@example.com' });
    const down = await new WebhookReceiver().start();
    const port = down.port;
    let second: TestServer | undefined;
    const back = new WebhookReceiver();
    try {
      first.services.webhooks.start();
      const account = await first.createUser({ email: 'restart-root@example.com' });
      const { accessToken } = await first.login(account.email, account.password);
      const created = await first.request('POST', '/v1/admin/webhooks', { token: accessToken, body: { url: down.url('/restart'), events: ['*'] } });
      back.secrets.set('/restart', [created.body.secret]);
      await down.stop();
      await first.createUser();
      await first.request('POST', `/v1/admin/webhooks/${created.body.id}/ping`, { token: accessToken });
      const databaseUrl = first.services.config.DATABASE_URL;
      await first.stop();
      second = await TestServer.start({ ...WEBHOOK_ENV, DATABASE_URL: databaseUrl });
      await back.start(port);
      second.services.webhooks.start();
      await back.waitFor(() => back.on('/restart').length === 2, 15_000);
      expect(back.on('/restart').map((event) => event.event.type)).to.deep.equal(['user.created', 'webhook.ping']);
      expect(back.unverified).to.deep.equal([]);
    } finally {
      await second?.stop();
      await back.stop();
    }
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
}
