import { createHash } from 'node:crypto';
import { expect } from 'chai';
import bcrypt from 'bcryptjs';
import { UserSchema } from '../../src/db/entities.js';
import { TestServer } from '../helpers/server.js';

describe('stored password hashes', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start();
  });
  after(() => app.stop());

  const stored = async (email: string) =>
    (await app.services.orm.em.fork().findOneOrFail(UserSchema, { email }, { populate: ['passwordHash'] })).passwordHash!;

  it('password shucking: a hash of the unsalted SHA-256 scheme still signs in, and is moved to the HMAC scheme at that sign-in', async () => {
    const account = await app.createUser();
    // What earlier versions stored: bcrypt over the base64 SHA-256 of the NFKC password.
    const legacy = bcrypt.hashSync(createHash('sha256').update(account.password.normalize('NFKC'), 'utf8').digest('base64'), 4);
    await app.services.orm.em.fork().nativeUpdate(UserSchema, { email: account.email }, { passwordHash: legacy });

    expect((await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'not the password' } })).status).to.equal(401);
    expect(await stored(account.email), 'a wrong password changes nothing').to.equal(legacy);
    await app.login(account.email, account.password);
    const upgraded = await stored(account.email);
    expect(upgraded).not.to.equal(legacy);
    expect(app.services.hasher.needsRehash(upgraded)).to.equal(false);
    expect(app.services.hasher.needsRehash(legacy)).to.equal(true);
    await app.login(account.email, account.password);
    expect(await stored(account.email), 'no re-hash once moved').to.equal(upgraded);
  });
});
