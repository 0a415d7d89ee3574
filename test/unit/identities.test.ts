import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { listIdentities, unlinkIdentity } from '../../src/domain/social/identities.js';
import { IdentitySchema, PasskeySchema } from '../../src/db/entities.js';
import { TestDomain } from '../helpers/domain.js';
import { rejection } from '../helpers/assertions.js';

describe('linked identities: the last way in stays', function () {
  let domain: TestDomain;
  before(async () => {
    domain = await TestDomain.start();
  });
  after(() => domain?.close());

  async function account(fields: { passwordHash?: string | null }, providers: string[]) {
    const user = await domain.user(`identities-${randomUUID()}@example.com`, fields);
    const em = domain.em();
    for (const provider of providers) {
      domain.clock.advance(1000);
      const now = domain.clock.now();
      em.create(IdentitySchema, { id: randomUUID(), userId: user.id, provider, subject: randomUUID(), email: user.email, createdAt: now, lastUsedAt: now });
    }
    await em.flush();
    return user.id;
  }

  it('lists an account’s identities oldest first, and no one else’s', async () => {
    const userId = await account({}, ['github', 'acme']);
    await account({}, ['github']);
    expect((await listIdentities(domain.em(), userId)).map((identity) => identity.provider)).to.deep.equal(['github', 'acme']);
  });

  it('refuses to unlink the only identity of an account without a password', async () => {
    const userId = await account({ passwordHash: null }, ['github']);
    const error = await rejection(unlinkIdentity(domain.em(), userId, 'github'));
    expect(error.code).to.equal('last-sign-in-method');
    expect(await listIdentities(domain.em(), userId)).to.have.length(1);
  });

  it('unlinks one of two identities of an account without a password, then keeps the other', async () => {
    const userId = await account({ passwordHash: null }, ['github', 'acme']);
    await unlinkIdentity(domain.em(), userId, 'github');
    expect((await listIdentities(domain.em(), userId)).map((identity) => identity.provider)).to.deep.equal(['acme']);
    expect((await rejection(unlinkIdentity(domain.em(), userId, 'acme'))).code).to.equal('last-sign-in-method');
  });

  it('unlinks the only identity of an account that has a password', async () => {
    const userId = await account({ passwordHash: 'a stored hash' }, ['github']);
    await unlinkIdentity(domain.em(), userId, 'github');
    expect(await listIdentities(domain.em(), userId)).to.deep.equal([]);
  });

  it('unlinks the only identity of an account without a password that has a passkey (the passkey is a way in)', async () => {
    const userId = await account({ passwordHash: null }, ['github']);
    const em = domain.em();
    em.create(PasskeySchema, {
      id: randomUUID(),
      userId,
      credentialId: randomUUID(),
      publicKey: 'AA',
      counter: 0,
      transports: '',
      deviceType: 'singleDevice',
      backedUp: false,
      aaguid: '00000000-0000-0000-0000-000000000000',
      name: 'Key',
      createdAt: domain.clock.now(),
      lastUsedAt: null,
    });
    await em.flush();
    await unlinkIdentity(domain.em(), userId, 'github');
    expect(await listIdentities(domain.em(), userId)).to.deep.equal([]);
  });

  it('answers not-found for a provider the account has not linked', async () => {
    const userId = await account({ passwordHash: 'a stored hash' }, ['github']);
    expect((await rejection(unlinkIdentity(domain.em(), userId, 'acme'))).code).to.equal('not-found');
  });
});
