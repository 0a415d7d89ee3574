import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { MembershipSchema, PendingRegistrationSchema, SigningKeySchema, UserSchema } from '../../src/db/entities.js';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { MailCatcher } from '../helpers/mail-catcher.js';
import { openDatabase } from '../../src/db/orm.js';
import { runCli, temporaryDirectory, type CliResult } from '../multi-instance/processes.js';

const COMMANDS = ['migrate', 'create-admin', 'rotate-signing-key', 'cleanup', 'outbox', 'orgs', 'doctor', 'import-users'];
const PASSWORD = 'a long and unusual admin passphrase';

/** `stdout` and `stderr` of a run, for assertion messages. */
const shown = (result: CliResult) => `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;

describe('the pulse-auth command line', function () {
  // Every run is a new Node process that loads the TypeScript sources.
  this.timeout(120_000);

  describe('usage', () => {
    const env = { DATABASE_URL: 'file::memory:' };

    it('lists every command for no command, `help` and `--help`, and exits with 0', async () => {
      const outputs = [];
      for (const args of [[], ['help'], ['--help']]) {
        const result = await runCli(args, env);
        expect(result.code, shown(result)).to.equal(0);
        expect(result.stderr).to.equal('');
        outputs.push(result.stdout);
      }
      expect(outputs[0]).to.match(/^Usage: pulse-auth <command>/);
      for (const command of COMMANDS) expect(outputs[0]).to.match(new RegExp(`^  ${command}\\b`, 'm'));
      expect(outputs[1]).to.equal(outputs[0]);
      expect(outputs[2]).to.equal(outputs[0]);
    });

    it('runs the same through the package bin (`npx pulse-auth`)', async () => {
      const result = await runCli(['help'], env, { entry: 'bin' });
      expect(result.code, shown(result)).to.equal(0);
      for (const command of COMMANDS) expect(result.stdout).to.include(command);
    });

    it('describes one command with `help <command>` and `<command> --help`', async () => {
      for (const args of [['help', 'create-admin'], ['create-admin', '--help']]) {
        const result = await runCli(args, env);
        expect(result.code, shown(result)).to.equal(0);
        expect(result.stdout).to.match(/^Usage: pulse-auth create-admin <email> \[--password-stdin\]/);
      }
    });

    it('answers an unknown command with the usage on stderr and exit code 2', async () => {
      const result = await runCli(['make-coffee'], env);
      expect(result.code, shown(result)).to.equal(2);
      expect(result.stdout).to.equal('');
      expect(result.stderr).to.include('unknown command "make-coffee"').and.include('Usage: pulse-auth <command>');
    });

    it('answers a malformed command line with exit code 2', async () => {
      for (const args of [['create-admin'], ['create-admin', 'a@example.com', '--no-such-option'], ['cleanup', 'extra']]) {
        const result = await runCli(args, env);
        expect(result.code, shown(result)).to.equal(2);
        expect(result.stderr).to.include('Usage: pulse-auth');
      }
    });

    it('stops on bad configuration with the configuration error and exit code 78', async () => {
      const result = await runCli(['cleanup'], { DATABASE_URL: 'file::memory:', PORT: 'not-a-port', BCRYPT_COST: '99' });
      expect(result.code, shown(result)).to.equal(78);
      expect(result.stderr).to.include('Invalid configuration').and.include('PORT').and.include('BCRYPT_COST');
    });
  });

  describe('migrate', () => {
    it('applies the migrations to a new database, then finds nothing to do (also as `npm run migrate`)', async () => {
      const env = { DATABASE_URL: `file:${join(temporaryDirectory(), 'migrate.sqlite')}` };
      const first = await runCli(['migrate'], env);
      expect(first.code, shown(first)).to.equal(0);
      expect(first.stdout).to.match(/^applied: Migration\d+_initial, /);
      const second = await runCli([], env, { entry: 'migrateScript' });
      expect(second.code, shown(second)).to.equal(0);
      expect(second.stdout.trim()).to.equal('the database is up to date');
    });

    it('--check: exit 1 with the pending migrations, 0 once applied, 1 again with the statements when the schema drifts from the entities; it changes nothing', async () => {
      const env = { DATABASE_URL: `file:${join(temporaryDirectory(), 'check.sqlite')}` };
      const fresh = await runCli(['migrate', '--check'], env);
      expect(fresh.code, shown(fresh)).to.equal(1);
      expect(fresh.stdout).to.match(/^pending: Migration\d+_initial, /);
      expect(fresh.stderr).to.match(/migration\(s\) pending/);
      expect((await runCli(['migrate', '--check'], env)).stdout, 'a check applies nothing').to.match(/^pending: /);

      expect((await runCli(['migrate'], env)).code).to.equal(0);
      const current = await runCli(['migrate', '--check'], env);
      expect(current.code, shown(current)).to.equal(0);
      expect(current.stdout.trim()).to.equal('the database is up to date: no pending migration, the schema matches the entities');

      // A column added by hand: the database no longer is what the entities describe.
      const orm = await openDatabase(env.DATABASE_URL, { migrate: false });
      await orm.em.getConnection().execute('alter table users add column added_by_hand text');
      await orm.close(true);
      const drifted = await runCli(['migrate', '--check'], env);
      expect(drifted.code, shown(drifted)).to.equal(1);
      expect(drifted.stdout).to.contain('added_by_hand');
      expect(drifted.stderr).to.match(/drifts/);
    });

    it('fails with exit code 1 and the reason when the database cannot be opened', async () => {
      const result = await runCli(['migrate'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
      expect(result.code, shown(result)).to.equal(1);
      expect(result.stderr).to.match(/^pulse-auth migrate failed: /);
      expect(result.stdout).to.equal('');
    });
  });

  describe('doctor', () => {
    const secret = 'doctor-s3cret-pw';
    let catcher: MailCatcher;
    let smtpPort: number;
    before(async () => {
      catcher = new MailCatcher();
      smtpPort = await catcher.start();
    });
    after(() => catcher.stop());

    it('reports the configuration, the database, SMTP and Redis one line each, exit 0 when all answer, no secret shown', async () => {
      const redisUrl = process.env.TEST_REDIS_URL;
      const databaseUrl = `file:${join(temporaryDirectory(), 'doctor.sqlite')}`;
      expect((await runCli(['migrate'], { DATABASE_URL: databaseUrl })).code).to.equal(0);
      const result = await runCli(['doctor'], {
        DATABASE_URL: databaseUrl,
        SMTP_URL: `smtp://mailer:${secret}@127.0.0.1:${smtpPort}`,
        METRICS_TOKEN: `metrics-${secret}`,
        ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
      });
      expect(result.code, shown(result)).to.equal(0);
      const lines = result.stdout.trim().split('\n');
      expect(lines.map((line) => line.split(/\s+/).slice(0, 2).join(' '))).to.deep.equal(['ok config', 'ok database', 'ok smtp', 'ok redis']);
      expect(lines[0]).to.contain('METRICS_TOKEN set');
      expect(lines[1]).to.contain('sqlite').and.contain('migrations up to date');
      expect(lines[2]).to.contain(`smtp://***@127.0.0.1:${smtpPort}`);
      expect(lines[3]).to.contain(redisUrl ? 'PING answered PONG' : 'unset');
      expect(result.stdout + result.stderr).not.to.contain(secret);
      expect(catcher.mails).to.have.length(0);
    });

    it('exits 1 and says which part failed and why, pending migrations shown, secrets still redacted', async () => {
      const result = await runCli(['doctor'], {
        DATABASE_URL: `file:${join(temporaryDirectory(), 'empty.sqlite')}`,
        // Nothing listens on port 9 (discard) here, nor on 1.
        SMTP_URL: `smtp://mailer:${secret}@127.0.0.1:9`,
        REDIS_URL: `redis://:${secret}@127.0.0.1:1`,
      });
      expect(result.code, shown(result)).to.equal(1);
      const lines = result.stdout.trim().split('\n');
      expect(lines.map((line) => line.split(/\s+/).slice(0, 2).join(' '))).to.deep.equal(['ok config', 'ok database', 'FAIL smtp', 'FAIL redis']);
      expect(lines[1]).to.match(/\d+ migration\(s\) pending/);
      expect(lines[2]).to.match(/ECONNREFUSED|timeout|no answer/i);
      expect(result.stderr).to.contain('failed: smtp, redis');
      expect(result.stdout + result.stderr).not.to.contain(secret);
    });
  });

  describe('on a database an app is serving', () => {
    let app: TestServer;
    let env: Record<string, string>;
    before(async () => {
      app = await TestServer.start({ DATABASE_URL: `file:${join(temporaryDirectory(), 'shared.sqlite')}` });
      env = { DATABASE_URL: app.services.config.DATABASE_URL, BCRYPT_COST: '4' };
    });
    after(() => app.stop());

    const userRow = (email: string) => app.services.orm.em.fork().findOne(UserSchema, { email });

    describe('create-admin', () => {
      it('creates a verified admin who can sign in, with the admin role in the access token', async () => {
        const email = uniqueEmail('admin');
        const result = await runCli(['create-admin', email.toUpperCase(), '--password-stdin'], env, { stdin: `${PASSWORD}\n` });
        expect(result.code, shown(result)).to.equal(0);
        expect(result.stdout).to.include(`created the admin account ${email}`);
        expect(result.stdout + result.stderr).not.to.include(PASSWORD);

        const session = await app.login(email, PASSWORD);
        expect(decodeJwt(session.accessToken)).to.include({ role: 'admin', sub: session.user.id });
        const me = await app.request('GET', '/v1/me', { token: session.accessToken });
        expect(me.body).to.include({ email, role: 'admin', emailVerified: true });
        const users = await app.request('GET', '/v1/admin/users', { token: session.accessToken });
        expect(users.status, users.text).to.equal(200);
        // The stored hash is a bcrypt hash at the configured cost, not the password.
        const stored = await app.services.orm.em.fork().findOneOrFail(UserSchema, { email }, { populate: ['passwordHash'] });
        expect(stored.passwordHash).to.match(/^hmac-sha256:\$2b\$04\$/);
      });

      it('gives an existing account the admin role and leaves its password alone', async () => {
        const account = await app.createUser();
        const before = await app.login(account.email, account.password);
        expect(decodeJwt(before.accessToken).role).to.equal('user');

        const result = await runCli(['create-admin', account.email], env);
        expect(result.code, shown(result)).to.equal(0);
        expect(result.stdout).to.include(`${account.email} (id ${account.user.id}) is now an admin (was: user)`);
        expect((await userRow(account.email))!.role).to.equal('admin');
        const after = await app.login(account.email, account.password);
        expect(decodeJwt(after.accessToken).role).to.equal('admin');

        const again = await runCli(['create-admin', account.email, '--password-stdin'], env, { stdin: 'some other long passphrase\n' });
        expect(again.code, shown(again)).to.equal(0);
        expect(again.stdout).to.include('is already an admin; nothing changed').and.include('the password on stdin was not used');
        await app.login(account.email, account.password);
      });

      it('refuses a password that breaks the password policy, with exit code 1, and creates nothing', async () => {
        for (const weak of ['password', 'short']) {
          const email = uniqueEmail('weak');
          const result = await runCli(['create-admin', email, '--password-stdin'], env, { stdin: `${weak}\n` });
          expect(result.code, shown(result)).to.equal(1);
          expect(result.stderr).to.match(/^pulse-auth create-admin: the password is refused: /);
          expect(result.stdout).to.equal('');
          expect(await userRow(email)).to.equal(null);
        }
      });

      it('refuses to create an account without a password, with exit code 1', async () => {
        const email = uniqueEmail('nopassword');
        const withoutFlag = await runCli(['create-admin', email], env);
        expect(withoutFlag.code, shown(withoutFlag)).to.equal(1);
        expect(withoutFlag.stderr).to.include(`there is no account ${email}`).and.include('--password-stdin');
        const emptyStdin = await runCli(['create-admin', email, '--password-stdin'], env, { stdin: '' });
        expect(emptyStdin.code, shown(emptyStdin)).to.equal(1);
        expect(emptyStdin.stderr).to.include('no password on standard input');
        expect(await userRow(email)).to.equal(null);
      });
    });

    describe('rotate-signing-key', () => {
      it('publishes a new key in the JWKS that signs only after SIGNING_KEY_PUBLISH_SECONDS', async () => {
        const before = await app.request('GET', '/.well-known/jwks.json');
        const oldKids: string[] = before.body.keys.map((key: { kid: string }) => key.kid);

        const startedAt = Date.now();
        const result = await runCli(['rotate-signing-key'], { ...env, SIGNING_KEY_PUBLISH_SECONDS: '600' });
        expect(result.code, shown(result)).to.equal(0);
        const kid = /^new signing key: (\S+)$/m.exec(result.stdout)?.[1];
        const signsFrom = /signs from (\S+) \(in (\d+) s\)/.exec(result.stdout);
        expect(kid, result.stdout).to.be.a('string');
        expect(oldKids).not.to.include(kid);
        expect(Number(signsFrom![2])).to.be.within(599, 600);
        expect(Date.parse(signsFrom![1]) - startedAt).to.be.within(590_000, 610_000);
        for (const old of oldKids) expect(result.stdout).to.include(old);

        const stored = await app.services.orm.em.fork().findOneOrFail(SigningKeySchema, { kid: kid! });
        expect(stored.retiresAt).to.equal(null);
        // A running instance loads the keys every minute; this one is told to now.
        await app.services.signingKeys.reload();
        const after = await app.request('GET', '/.well-known/jwks.json');
        expect(after.body.keys.map((key: { kid: string }) => key.kid)).to.have.members([kid, ...oldKids]);
        const account = await app.createUser();
        const { accessToken } = await app.login(account.email, account.password);
        expect(decodeProtectedHeader(accessToken).kid).to.be.oneOf(oldKids);
      });
    });

    describe('orgs list', () => {
      it('lists organizations with member and owner counts, filtered by name and member', async () => {
        const owner = await app.createUser();
        const { accessToken, user } = await app.login(owner.email, owner.password);
        const created = await app.request('POST', '/v1/orgs', { token: accessToken, body: { name: 'Cli Listed Org' } });
        expect(created.status, created.text).to.equal(201);
        const result = await runCli(['orgs', 'list', '--name', 'cli listed', '--member', user.id], env);
        expect(result.code, shown(result)).to.equal(0);
        const lines = result.stdout.trim().split('\n');
        expect(lines[0]).to.equal('id\tslug\tmembers\towners\tcreated\tname');
        expect(lines.slice(1)).to.have.length(1);
        expect(lines[1].split('\t')).to.include.members([created.body.id, created.body.slug, '1', 'Cli Listed Org']);
        const none = await runCli(['orgs', 'list', '--name', 'no such org prefix'], env);
        expect(none.stdout.trim().split('\n')).to.have.length(1);
        const wrong = await runCli(['orgs', 'remove'], env);
        expect(wrong.code, shown(wrong)).to.equal(2);
      });
    });

    describe('orgs set-role', () => {
      it('sets a member\'s role as adminSetOrganizationMemberRole does, and keeps the last-owner rule', async () => {
        const owner = await app.createUser();
        const member = await app.createUser();
        const { accessToken } = await app.login(owner.email, owner.password);
        const created = await app.request('POST', '/v1/orgs', { token: accessToken, body: { name: 'Cli Role Org' } });
        expect(created.status, created.text).to.equal(201);
        const orgId: string = created.body.id;
        const em = app.services.orm.em.fork();
        em.create(MembershipSchema, { id: randomUUID(), organizationId: orgId, userId: member.user.id, role: 'member', createdAt: app.services.clock.now() });
        await em.flush();
        const owners = () => app.services.orm.em.fork().count(MembershipSchema, { organizationId: orgId, role: 'owner' });

        const promoted = await runCli(['orgs', 'set-role', orgId, member.email.toUpperCase(), 'owner'], env);
        expect(promoted.code, shown(promoted)).to.equal(0);
        expect(promoted.stdout).to.include(`is now owner of ${orgId} (was: member)`);
        expect(await owners()).to.equal(2);
        const demoted = await runCli(['orgs', 'set-role', orgId, owner.email, 'member'], env);
        expect(demoted.code, shown(demoted)).to.equal(0);
        const last = await runCli(['orgs', 'set-role', orgId, member.email, 'admin'], env);
        expect(last.code, shown(last)).to.equal(1);
        expect(last.stderr).to.include('last-owner');
        expect(await owners()).to.equal(1);
        const badRole = await runCli(['orgs', 'set-role', orgId, member.email, 'boss'], env);
        expect(badRole.code, shown(badRole)).to.equal(2);
      });
    });

    describe('cleanup', () => {
      it('runs every cleanup job and prints the counts of each', async () => {
        const email = uniqueEmail('stale');
        // A registration made longer ago than VERIFICATION_TTL (1800 s by default): the app's clock is moved back.
        app.clock.advance(-1900);
        try {
          expect((await app.request('POST', '/v1/auth/register', { body: { email, password: PASSWORD } })).status).to.equal(202);
        } finally {
          app.clock.advance(1900);
        }
        const em = () => app.services.orm.em.fork();
        expect(await em().count(PendingRegistrationSchema, { email })).to.equal(1);

        const result = await runCli(['cleanup'], env);
        expect(result.code, shown(result)).to.equal(0);
        const lines = result.stdout.trim().split('\n');
        expect(lines.map((line) => line.split(/\s+/)[0])).to.deep.equal([
          'delete-expired-registrations',
          'delete-spent-tokens',
          'delete-old-login-attempts',
          'delete-old-mail',
          'delete-old-webhook-deliveries',
          'delete-old-audit-events',
          'purge-deleted-accounts',
        ]);
        for (const line of lines) expect(line).to.match(/^\S+\s+(\w+=\d+)( \w+=\d+)*$/);
        expect(lines[0]).to.match(/ registrations=([1-9]\d*)$/);
        expect(await em().count(PendingRegistrationSchema, { email })).to.equal(0);

        const again = await runCli(['cleanup'], env);
        expect(again.code, shown(again)).to.equal(0);
        expect(again.stdout.split('\n')[0]).to.match(/ registrations=0$/);
      });
    });
  });
});
