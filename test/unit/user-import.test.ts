import { expect } from 'chai';
import bcrypt from 'bcryptjs';
import { foreignHashProblem } from '../../src/domain/passwords/hasher.js';
import { createPasswordHasher } from '../../src/infra/hashing-pool.js';
import { parseImportedDate } from '../../src/domain/admin/user-import.js';

describe('imported bcrypt hashes', () => {
  it('takes every hash bcryptjs makes, in each of the three prefixes', () => {
    for (let i = 0; i < 100; i += 1) {
      const hash = bcrypt.hashSync(`password ${i}`, 4);
      for (const prefix of ['$2a$', '$2b$', '$2y$']) expect(foreignHashProblem(prefix + hash.slice(4)), hash).to.equal(null);
    }
    expect(foreignHashProblem('$2b$31$' + bcrypt.hashSync('x', 4).slice(7))).to.equal(null);
  });

  it('refuses anything else: other schemes, costs, lengths, alphabets and non-canonical endings', () => {
    const hash = bcrypt.hashSync('password', 4);
    const body = hash.slice(7);
    for (const bad of [
      '',
      'password',
      '5f4dcc3b5aa765d61d8327deb882cf99',
      `$2x$04$${body}`,
      `$2$04$${body}`,
      `$2b$03$${body}`,
      `$2b$32$${body}`,
      `$2b$4$${body}`,
      hash.slice(0, 59),
      `${hash}.`,
      `$2b$04$${body.slice(0, 21)}f${body.slice(22)}`, // salt's last character carries 2 bits only
      `$2b$04$${body.slice(0, 52)}b`, // digest's last character carries 4 bits only
      `$2b$04$${body.slice(0, 10)}+${body.slice(11)}`,
      `pbkdf2_sha256$600000$salt$hash`,
    ]) {
      expect(foreignHashProblem(bad), JSON.stringify(bad)).to.be.a('string');
    }
  });

  it('verifies a foreign hash on the plain password (72 bytes count), and asks for it to be replaced', async () => {
    const hasher = createPasswordHasher({ cost: 4, threads: 1 });
    try {
      const long = `${'x'.repeat(72)}`;
      const stored = `foreign-bcrypt:${bcrypt.hashSync(long, 4)}`;
      expect(await hasher.verify(long, stored)).to.equal(true);
      expect(await hasher.verify(`${long} and whatever follows`, stored), 'bcrypt reads 72 bytes').to.equal(true);
      expect(await hasher.verify('x'.repeat(71), stored)).to.equal(false);
      expect(hasher.needsRehash(stored)).to.equal(true);
      const ours = await hasher.hash(long);
      expect(hasher.needsRehash(ours)).to.equal(false);
      expect(await hasher.verify(`${long} and whatever follows`, ours), 'our hash counts the whole password').to.equal(false);
    } finally {
      await hasher.close();
    }
  });
});

describe('imported creation dates', () => {
  const now = new Date('2026-12-01T12:00:00Z');
  it('reads RFC 3339 and SQL timestamps (UTC without an offset)', () => {
    const cases: Array<[string, string]> = [
      ['2024-05-01T09:30:00Z', '2024-05-01T09:30:00.000Z'],
      ['2024-05-01T09:30:00.123456+02:00', '2024-05-01T07:30:00.123Z'],
      ['2024-05-01 09:30:00', '2024-05-01T09:30:00.000Z'],
      ['2024-05-01 09:30:00.5-0130', '2024-05-01T11:00:00.500Z'],
      ['2024-05-01T09:30:00+00', '2024-05-01T09:30:00.000Z'],
    ];
    for (const [text, iso] of cases) expect((parseImportedDate(text, now) as Date).toISOString(), text).to.equal(iso);
  });
  it('refuses what is not a real moment, or one in the future', () => {
    for (const text of ['yesterday', '2024-02-30 10:00:00', '2024-05-01', '2024-05-01T24:00:00Z', '2027-01-01T00:00:00Z', '2024-05-01T09:30:00+25:00']) {
      expect(parseImportedDate(text, now), text).to.be.a('string');
    }
  });
});
