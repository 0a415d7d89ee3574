import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { normaliseRecoveryCode, remainingRecoveryCodes, replaceRecoveryCodes, spendRecoveryCode } from '../../src/domain/mfa/recovery-codes.js';
import { RecoveryCodeSchema } from '../../src/db/entities.js';
import { TestDomain } from '../helpers/domain.js';

describe('recovery codes', function () {
  let domain: TestDomain;
  before(async () => {
    domain = await TestDomain.start();
  });
  after(() => domain?.close());

  const userId = async () => (await domain.user(`codes-${randomUUID()}@example.com`)).id;
  const replace = async (id: string) => replaceRecoveryCodes(domain.em(), id, domain.clock.now());
  const spend = (id: string, code: string) => spendRecoveryCode(domain.em(), id, code, domain.clock.now());

  it('makes ten distinct codes of four groups of four unambiguous letters', async () => {
    const codes = await replace(await userId());
    expect(codes).to.have.length(10);
    expect(new Set(codes).size).to.equal(10);
    for (const code of codes) expect(code).to.match(/^[2-9A-HJKMNP-TV-Z]{4}(-[2-9A-HJKMNP-TV-Z]{4}){3}$/);
  });

  it('stores only hashes: no code appears in its row', async () => {
    const id = await userId();
    const codes = await replace(id);
    const rows = await domain.em().find(RecoveryCodeSchema, { userId: id });
    expect(rows).to.have.length(10);
    const stored = JSON.stringify(rows);
    for (const code of codes) {
      expect(stored).not.to.include(code);
      expect(stored).not.to.include(normaliseRecoveryCode(code));
    }
  });

  it('spends each code once, and counts what remains', async () => {
    const id = await userId();
    const [first, second] = await replace(id);
    expect(await spend(id, first)).to.equal(true);
    expect(await spend(id, first), 'a spent code').to.equal(false);
    expect(await remainingRecoveryCodes(domain.em(), id)).to.equal(9);
    expect(await spend(id, second)).to.equal(true);
    expect(await remainingRecoveryCodes(domain.em(), id)).to.equal(8);
  });

  it('takes a code back whatever its case, dashes and spaces', async () => {
    const id = await userId();
    const [code] = await replace(id);
    const typed = ` ${code.toLowerCase().replace(/-/g, ' ')} `;
    expect(await spend(id, typed)).to.equal(true);
  });

  it('refuses another user\'s code, a made-up code, and the codes a replacement made void', async () => {
    const mine = await userId();
    const theirs = await userId();
    const [theirCode] = await replace(theirs);
    const [old] = await replace(mine);
    expect(await spend(mine, theirCode)).to.equal(false);
    expect(await spend(mine, 'AAAA-BBBB-CCCC-DDDD')).to.equal(false);
    const fresh = await replace(mine);
    expect(await spend(mine, old), 'replaced').to.equal(false);
    expect(await remainingRecoveryCodes(domain.em(), mine)).to.equal(10);
    expect(await spend(mine, fresh[0])).to.equal(true);
    expect(await spend(theirs, theirCode), 'still the other user\'s').to.equal(true);
  });

  it('lets one of several concurrent uses of a code win', async () => {
    const id = await userId();
    const [code] = await replace(id);
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => spend(id, code)));
    expect(outcomes.filter(Boolean)).to.have.length(1);
  });
});
