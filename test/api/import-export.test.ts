import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import bcrypt from 'bcryptjs';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';
import { runCli, temporaryDirectory } from '../multi-instance/processes.js';
import { AuditEventSchema, IdentitySchema, OutboxMailSchema, PasskeySchema, UserSchema } from '../../src/db/entities.js';

const PASSWORD = 'my old password from the other app';
/** `bcryptjs.hashSync(PASSWORD, 14)`, made once: making it takes as long as checking it (1-2 s), and only the check is under test. */
const COST_14 = '$2b$14$4p8PHm5WVer8xRXSR16aAO5q6wkDq50AU7rh.49a51tlAZ9D3XxEW';

describe('moving users in and out (adminImportUsers, pulse-auth import-users, exportMyData)', function () {
  // Hashing at cost 10 and 14 on the test's own thread, and one CLI process.
  this.timeout(60_000);
  let app: TestServer;
  let admin: { email: string; password: string; token: string; id: string };
  const adminEmail = uniqueEmail('import-admin');
  const run = `${process.pid}-${Date.now()}`;
  let counter = 0;
  const email = (label: string) => `${label}-${run}-${++counter}@example.com`;

  before(async () => {
    app = await TestServer.start({ ADMIN_EMAILS: adminEmail });
    const account = await app.createUser({ email: adminEmail });
    const login = await app.login(account.email, account.password);
    admin = { ...account, token: login.accessToken, id: login.user.id };
  });
  after(() => app?.stop());

  const em = () => app.services.orm.em.fork();
  const importRows = (users: unknown[], token = admin.token) => app.request('POST', '/v1/admin/users/import', { token, body: { users } });
  const storedHash = async (address: string) => (await em().findOneOrFail(UserSchema, { email: address }, { populate: ['passwordHash'] })).passwordHash;
  const signIn = (address: string, password: string) => app.request('POST', '/v1/auth/login', { body: { email: address, password, refreshTokenDelivery: 'body' } });

  describe('adminImportUsers', () => {
    it('signs in with a bcryptjs hash made as a typical app makes it, and stores a hash of our own at that sign-in', async () => {
      const address = email('bcryptjs');
      const hash = await bcrypt.hash(PASSWORD, 10);
      const reply = await importRows([{ email: address, name: 'Ada Import', passwordHash: hash, createdAt: '2021-03-04T05:06:07Z' }]);
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.body).to.deep.include({ created: 1, exists: 0, invalid: 0 });
      expect(reply.body.results[0]).to.deep.include({ row: 0, status: 'created', email: address, problem: null });
      expect(reply.text, 'the hash is not echoed').not.to.include(hash);
      expect(await storedHash(address)).to.equal(`foreign-bcrypt:${hash}`);

      failWith(await signIn(address, 'not the old password'), 401, 'invalid-credentials');
      const first = await signIn(address, PASSWORD);
      expect(first.status, first.text).to.equal(200);
      expect(first.body.user).to.deep.include({ email: address, name: 'Ada Import', emailVerified: true, createdAt: '2021-03-04T05:06:07.000Z' });
      const replaced = await storedHash(address);
      expect(replaced).to.match(/^hmac-sha256:\$2b\$04\$/);
      const again = await signIn(address, PASSWORD);
      expect(again.status, again.text).to.equal(200);
      expect(await storedHash(address), 'replaced once').to.equal(replaced);
    });

    it('takes $2y$ and cost-4 hashes, and a cost-14 one', async () => {
      const y = email('php');
      const four = email('cost4');
      const fourteen = email('cost14');
      const cost4 = await bcrypt.hash(PASSWORD, 4);
      expect(bcrypt.getRounds(COST_14)).to.equal(14);
      const reply = await importRows([
        { email: y, passwordHash: cost4.replace(/^\$2b\$/, '$2y$') },
        { email: four, passwordHash: cost4.replace(/^\$2b\$/, '$2a$') },
        { email: fourteen, passwordHash: COST_14 },
      ]);
      expect(reply.body, reply.text).to.deep.include({ created: 3, invalid: 0 });
      for (const address of [y, four, fourteen]) {
        const started = performance.now();
        expect((await signIn(address, PASSWORD)).status, address).to.equal(200);
        if (address === fourteen) console.log(`      (the sign-in on the cost-14 hash took ${Math.round(performance.now() - started)} ms)`);
        expect(await storedHash(address), address).to.match(/^hmac-sha256:/);
      }
    });

    it('replaces a foreign hash at a step-up check too (a session opened by an emailed code)', async () => {
      const address = email('stepup');
      await importRows([{ email: address, passwordHash: await bcrypt.hash(PASSWORD, 4) }]);
      const before = app.mail.mails.length;
      expect((await app.request('POST', '/v1/auth/email-sign-in', { body: { email: address } })).status).to.equal(202);
      const code = /enter the code (\d{6})/.exec((await app.mail.next(address, { subject: /Sign in/, after: before })).text)![1];
      const session = await app.request('POST', '/v1/auth/email-sign-in/verify', { body: { email: address, code, refreshTokenDelivery: 'body' } });
      expect(session.status, session.text).to.equal(200);
      expect(await storedHash(address)).to.match(/^foreign-bcrypt:/);
      const enrolled = await app.request('POST', '/v1/me/mfa/totp', { token: session.body.accessToken, body: { password: PASSWORD } });
      expect(enrolled.status, enrolled.text).to.equal(200);
      expect(await storedHash(address)).to.match(/^hmac-sha256:/);
    });

    it('leaves an existing account untouched, under the email as sign-up compares it', async () => {
      const existing = await app.createUser({ name: 'Original' });
      const other = await bcrypt.hash('another password entirely', 4);
      const reply = await importRows([{ email: `  ${existing.email.toUpperCase()} `, name: 'Imposter', passwordHash: other, role: 'admin' }]);
      expect(reply.body.results[0]).to.deep.include({ status: 'exists', email: existing.email, userId: existing.user.id, problem: null });
      const user = await em().findOneOrFail(UserSchema, { email: existing.email }, { populate: ['passwordHash'] });
      expect(user).to.deep.include({ name: 'Original', role: 'user' });
      expect(user.passwordHash).to.match(/^hmac-sha256:/);
      expect((await signIn(existing.email, existing.password)).status).to.equal(200);
    });

    it('reports each bad row with its problem, and imports the good ones of the same call', async () => {
      const good = email('good');
      const duplicate = email('twice');
      const hash = await bcrypt.hash(PASSWORD, 4);
      const rows = [
        { email: 'not-an-email' },
        { email: `\u212Aelvin-${run}@example.com` },
        { email: email('x2'), passwordHash: hash.replace(/^\$2b\$/, '$2x$') },
        { email: email('short'), passwordHash: hash.slice(0, 59) },
        { email: email('cost3'), passwordHash: hash.replace(/^\$2b\$04\$/, '$2b$03$') },
        { email: email('noncanonical'), passwordHash: `${hash.slice(0, 28)}f${hash.slice(29)}` },
        { email: email('md5'), passwordHash: '5f4dcc3b5aa765d61d8327deb882cf99' },
        { email: email('name'), name: 'two\nlines' },
        { email: email('role'), role: 'root' },
        { email: email('future'), createdAt: '2999-01-01T00:00:00Z' },
        { email: email('date'), createdAt: '2021-02-30 10:00:00' },
        { email: good, name: '  Grace  ', createdAt: '2020-01-02 03:04:05.678', role: 'admin', emailVerified: false },
        { email: duplicate },
        { email: duplicate.toUpperCase() },
      ];
      const reply = await importRows(rows);
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.body).to.deep.include({ created: 2, exists: 1, invalid: 11 });
      const problems = reply.body.results.map((result: any) => result.problem && `${result.problem.code} ${result.problem.pointer}`);
      expect(problems).to.deep.equal([
        'validation-failed /body/users/0/email',
        'validation-failed /body/users/1/email',
        'invalid-password-hash /body/users/2/passwordHash',
        'invalid-password-hash /body/users/3/passwordHash',
        'invalid-password-hash /body/users/4/passwordHash',
        'invalid-password-hash /body/users/5/passwordHash',
        'invalid-password-hash /body/users/6/passwordHash',
        'validation-failed /body/users/7/name',
        'validation-failed /body/users/8/role',
        'validation-failed /body/users/9/createdAt',
        'validation-failed /body/users/10/createdAt',
        null,
        null,
        null,
      ]);
      expect(reply.body.results[1].email, 'an invalid email as sent, not lower-cased into a valid-looking one').to.equal(`\u212Aelvin-${run}@example.com`);
      expect(reply.body.results.slice(11).map((result: any) => result.status)).to.deep.equal(['created', 'created', 'exists']);
      expect(reply.body.results[13].userId).to.equal(reply.body.results[12].userId);
      for (const result of reply.body.results.slice(0, 11)) expect(result.userId).to.equal(null);
      const grace = await em().findOneOrFail(UserSchema, { email: good });
      expect(grace).to.deep.include({ name: 'Grace', role: 'admin', emailVerified: false });
      expect(grace.createdAt.toISOString()).to.equal('2020-01-02T03:04:05.678Z');
      const events = await em().find(AuditEventSchema, { action: 'admin.users-imported' }, { orderBy: { createdAt: 'desc' } });
      expect(events.map((event) => event.details)).to.deep.include({ operationId: 'adminImportUsers', rows: 14, created: 2, exists: 1, invalid: 11 });
      expect(events[0].actorUserId).to.equal(admin.id);
    });

    it('drops a sign-up of the same email still waiting for its link', async () => {
      const address = email('pending');
      const before = app.mail.mails.length;
      expect((await app.request('POST', '/v1/auth/register', { body: { email: address, password: 'a perfectly fine passphrase' } })).status).to.equal(202);
      const mail = await app.mail.next(address, { subject: /Confirm/, after: before });
      expect((await importRows([{ email: address }])).body.created).to.equal(1);
      const token = /[?&]token=([A-Za-z0-9_%-]+)/.exec(mail.text)![1];
      const verified = await app.request('POST', '/v1/auth/verify-email', { body: { token: decodeURIComponent(token), password: 'a perfectly fine passphrase' } });
      failWith(verified, 400, 'invalid-verification-token');
    });

    it('refuses the whole call for more than 1,000 rows, an unknown field, or a row that is not an object', async () => {
      const many = Array.from({ length: 1001 }, (_, i) => ({ email: `many-${i}-${run}@example.com` }));
      const tooMany = await importRows(many);
      failWith(tooMany, 400, 'validation-failed');
      expect(tooMany.body.errors[0].pointer).to.equal('/body/users');
      failWith(await importRows([{ email: email('typo'), password_hash: 'x' }]), 400, 'validation-failed');
      failWith(await importRows(['ada@example.com']), 400, 'validation-failed');
      expect(await em().count(UserSchema, { email: { $like: `many-%-${run}@example.com` } })).to.equal(0);
      // The larger body does not buy a larger answer: a problem lists at most 100 field errors.
      const junk = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, 0]));
      const flooded = await app.request('POST', '/v1/admin/users/import', { body: { users: [{ email: email('junk'), ...junk }] } });
      failWith(flooded, 400, 'validation-failed');
      expect(flooded.body.errors).to.have.length(100);
      expect(flooded.body.detail).to.match(/^5000 problem\(s\) in the request; the first 100 are listed$/);
    });

    it('imports 1,000 rows in one call within a few seconds', async () => {
      const hash = await bcrypt.hash(PASSWORD, 4);
      const rows = Array.from({ length: 1000 }, (_, i) => ({ email: `bulk-${i}-${run}@example.com`, name: `Bulk ${i}`, passwordHash: hash, createdAt: '2022-06-01T12:00:00Z' }));
      const started = performance.now();
      const reply = await importRows(rows);
      const ms = Math.round(performance.now() - started);
      console.log(`      (1,000 rows imported in ${ms} ms)`);
      expect(reply.status, reply.text.slice(0, 500)).to.equal(200);
      expect(reply.body).to.deep.include({ created: 1000, exists: 0, invalid: 0 });
      expect(new Set(reply.body.results.map((result: any) => result.userId)).size).to.equal(1000);
      expect(await em().count(UserSchema, { email: { $like: `bulk-%-${run}@example.com` } })).to.equal(1000);
      expect((await signIn(`bulk-999-${run}@example.com`, PASSWORD)).status).to.equal(200);
      // The same call again: every row exists, nothing changes.
      expect((await importRows(rows)).body).to.deep.include({ created: 0, exists: 1000 });
    });

    it('mails nobody it imports', async () => {
      const addresses = [email('quiet'), email('quiet')];
      await importRows(addresses.map((address) => ({ email: address, passwordHash: null })));
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const address of addresses) expect(app.mail.count(address)).to.equal(0);
      const bulk = await em().count(OutboxMailSchema, { recipient: { $like: `%-${run}@example.com` } });
      const imported = await em().count(OutboxMailSchema, { recipient: { $in: addresses } });
      expect(imported).to.equal(0);
      // The only mail to this run's addresses: the sign-up links, email sign-in codes and new-device notices the tests asked for.
      expect(bulk).to.be.below(20);
    });

    it('refuses a caller who is not an administrator', async () => {
      const user = await app.createUser();
      const { accessToken } = await app.login(user.email, user.password);
      const address = email('sneaky');
      failWith(await importRows([{ email: address, role: 'admin' }], accessToken), 403, 'forbidden');
      expect((await app.request('POST', '/v1/admin/users/import', { body: { users: [{ email: address }] } })).status).to.equal(401);
      expect(await em().count(UserSchema, { email: address })).to.equal(0);
    });
  });

  describe('pulse-auth import-users', () => {
    it('streams a 10,000-line file in batches, with progress, a summary and the line numbers of the bad lines', async function () {
      this.timeout(120_000);
      const hash = await bcrypt.hash(PASSWORD, 4);
      const lines = Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ email: `cli-${i}-${run}@example.com`, passwordHash: hash }));
      lines[9] = '{"email": "broken json"';
      lines[1233] = JSON.stringify({ email: 'nobody-at-all' });
      lines[4999] = JSON.stringify({ email: `cli-bad-hash-${run}@example.com`, passwordHash: '$2b$10$tooshort' });
      lines[7000] = '';
      lines[9998] = JSON.stringify({ email: admin.email });
      const file = join(temporaryDirectory(), 'users.jsonl');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const started = performance.now();
      const result = await runCli(['import-users', file], { DATABASE_URL: app.services.config.DATABASE_URL, BCRYPT_COST: '4' }, { timeoutMs: 110_000 });
      console.log(`      (the CLI imported 10,000 lines in ${Math.round(performance.now() - started)} ms, start-up included)`);
      const shown = `exit ${result.code}\n${result.stdout}\n${result.stderr}`;
      expect(result.code, shown).to.equal(1);
      expect(result.stdout, shown).to.include('created 9995, exists 1, invalid 3 (10000 lines)');
      expect(result.stdout).to.include('invalid lines: 10, 1234, 5000');
      expect(result.stdout).to.match(/line 10: not valid JSON/).and.match(/line 1234: email: /).and.match(/line 5000: passwordHash: .*invalid-password-hash/);
      expect(result.stdout).not.to.include('$2b$10$tooshort');
      expect(result.stderr.match(/^import-users: \d+ lines read/gm)?.length, shown).to.equal(10);
      expect(result.stderr).to.include('3 of the lines were invalid');
      expect(await em().count(UserSchema, { email: { $like: `cli-%-${run}@example.com` } })).to.equal(9995);
      expect((await signIn(`cli-9999-${run}@example.com`, PASSWORD)).status).to.equal(200);
      const event = await em().findOneOrFail(AuditEventSchema, { action: 'admin.users-imported', details: { $ne: null } }, { orderBy: { createdAt: 'desc' } });
      expect(event.details).to.deep.include({ via: 'cli import-users', created: 9995, exists: 1, invalid: 3 });
    });
  });

  describe('exportMyData', () => {
    const CREDENTIAL = /password|hash|secret|token/i;
    const keysOf = (value: unknown, path = ''): string[] => {
      if (Array.isArray(value)) return value.flatMap((item, i) => keysOf(item, `${path}/${i}`));
      if (value === null || typeof value !== 'object') return [];
      return Object.entries(value).flatMap(([key, inner]) => [`${path}/${key}`, ...keysOf(inner, `${path}/${key}`)]);
    };

    it('holds every section for an account that has them, no credential, and nothing of another account', async () => {
      const owner = await app.createUser({ name: 'Owner' });
      const stranger = await app.createUser({ name: 'Stranger' });
      failWith(await signIn(owner.email, 'a wrong password, once'), 401, 'invalid-credentials');
      const login = await app.login(owner.email, owner.password, 'body', { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0' });
      await app.login(stranger.email, stranger.password);
      const userId = login.user.id;
      const now = app.clock.now();
      // A linked identity and a passkey, as social sign-in and finishPasskeyRegistration write them (test/api/social-sign-in and passkeys cover those).
      const db = em();
      db.create(IdentitySchema, { id: randomUUID(), userId, provider: 'google', subject: 'google-subject-1', email: owner.email, createdAt: now, lastUsedAt: now });
      db.create(PasskeySchema, {
        id: randomUUID(),
        userId,
        credentialId: 'Y3JlZGVudGlhbC1pZC1vZi10aGUtb3duZXI',
        publicKey: 'cHVibGljLWtleS1vZi10aGUtb3duZXI',
        counter: 0,
        transports: 'internal,hybrid',
        deviceType: 'multiDevice',
        backedUp: true,
        aaguid: '00000000-0000-0000-0000-000000000000',
        name: 'Laptop',
        createdAt: now,
        lastUsedAt: null,
      });
      db.create(PasskeySchema, {
        id: randomUUID(),
        userId: stranger.user.id,
        credentialId: 'c3RyYW5nZXItY3JlZGVudGlhbA',
        publicKey: 'c3RyYW5nZXIta2V5',
        counter: 0,
        transports: '',
        deviceType: 'singleDevice',
        backedUp: false,
        aaguid: '00000000-0000-0000-0000-000000000000',
        name: 'Stranger key',
        createdAt: now,
        lastUsedAt: null,
      });
      await db.flush();
      // A membership of the owner's (its own organization) and one of the stranger's that must not appear.
      const organization = await app.request('POST', '/v1/orgs', { token: login.accessToken, body: { name: 'Owner Works' } });
      expect(organization.status, organization.text).to.equal(201);
      const strangers = await app.request('POST', '/v1/orgs', { token: (await app.login(stranger.email, stranger.password)).accessToken, body: { name: 'Stranger Things Ltd' } });
      expect(strangers.status, strangers.text).to.equal(201);
      // An administrator's change: an audit event about the owner, done by another account.
      expect((await app.request('PATCH', `/v1/admin/users/${userId}`, { token: admin.token, body: { name: 'Owner Renamed' } })).status).to.equal(200);

      const reply = await app.request('GET', '/v1/me/export', { token: login.accessToken });
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.headers.get('content-disposition')).to.equal('attachment; filename="pulse-auth-export.json"');
      const document = reply.body;
      expect(Object.keys(document).sort()).to.deep.equal(
        ['auditEvents', 'exportedAt', 'identities', 'loginHistory', 'memberships', 'passkeys', 'profile', 'sessions'].sort(),
      );
      expect(document.profile).to.deep.include({ id: userId, email: owner.email, name: 'Owner Renamed', signInMethods: ['password', 'social', 'passkey'] });
      expect(document.sessions).to.have.length(1);
      expect(document.sessions[0]).to.deep.include({ id: login.session.id, current: true, browser: 'Firefox 133' });
      expect(document.loginHistory.map((attempt: any) => attempt.outcome).sort()).to.deep.equal(['failure', 'success']);
      expect(document.identities).to.deep.equal([{ provider: 'google', subject: 'google-subject-1', email: owner.email, createdAt: now.toISOString(), lastUsedAt: now.toISOString() }]);
      expect(document.passkeys.map((passkey: any) => passkey.name)).to.deep.equal(['Laptop']);
      expect(document.memberships).to.have.length(1);
      expect(document.memberships[0]).to.deep.include({ organizationId: organization.body.id, organizationName: 'Owner Works', role: 'owner' });
      const actions = document.auditEvents.map((event: any) => `${event.action} ${event.actor}`);
      expect(actions).to.include('admin.user-updated another-account');
      expect(actions.some((action: string) => action.startsWith('user.sign'))).to.equal(true);

      expect(keysOf(document).filter((path) => CREDENTIAL.test(path.split('/').pop()!))).to.deep.equal([]);
      const text = reply.text;
      for (const leak of ['hmac-sha256', '$2b$', 'cHVibGljLWtleS1vZi10aGUtb3duZXI', 'Y3JlZGVudGlhbC1pZC1vZi10aGUtb3duZXI', login.accessToken]) {
        expect(text).not.to.include(leak);
      }
      for (const foreign of [stranger.email, stranger.user.id, 'Stranger key', 'Stranger Things', strangers.body.id, admin.id, admin.email]) expect(text, foreign).not.to.include(foreign);
    });

    it('needs a token, and is rate-limited per client', async () => {
      expect((await app.request('GET', '/v1/me/export')).status).to.equal(401);
      const limited = await TestServer.start({ RATE_LIMIT_PER_MINUTE: '2' });
      try {
        const account = await limited.createUser();
        const { accessToken } = await limited.login(account.email, account.password);
        const answers = [];
        for (let i = 0; i < 3; i += 1) answers.push((await limited.request('GET', '/v1/me/export', { token: accessToken })).status);
        expect(answers).to.deep.equal([200, 200, 429]);
      } finally {
        await limited.stop();
      }
    });
  });
});
