import { expect } from 'chai';
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { passwordWeakness } from '../../src/domain/passwords/policy.js';
import { passwordDigest } from '../../src/domain/passwords/hasher.js';
import { createPasswordHasher } from '../../src/infra/hashing-pool.js';

describe('password policy', () => {
  it('takes 8 to 256 characters of anything, counted after normalisation', () => {
    expect(passwordWeakness('seven c')).to.match(/at least 8/);
    expect(passwordWeakness('eight ch')).to.equal(undefined);
    expect(passwordWeakness('日本語のパスワード')).to.equal(undefined);
    expect(passwordWeakness('😀😀😀😀😀😀😀😀')).to.equal(undefined); // 8 characters, 32 bytes
    expect(passwordWeakness('x'.repeat(256))).to.equal(undefined);
    expect(passwordWeakness('x'.repeat(257))).to.match(/at most 256/);
  });

  it('refuses passwords on the shipped list of common ones, whatever their case', () => {
    for (const common of ['password', 'Password', '12345678', 'iloveyou', 'QWERTYUIOP', 'football']) {
      expect(passwordWeakness(common), common).to.match(/commonly used/);
    }
  });

  it('has no composition rules', () => {
    expect(passwordWeakness('all lower case words')).to.equal(undefined);
  });
});

describe('password hashing', () => {
  const hasher = createPasswordHasher({ cost: 4, threads: 1 });
  after(() => hasher.close());

  /** The earlier scheme: bcrypt over the unsalted SHA-256 (base64) of the NFKC password. */
  const sha256 = (password: string) => createHash('sha256').update(password.normalize('NFKC'), 'utf8').digest('base64');
  const bcryptPart = (stored: string) => /\$2[aby]\$\d\d\$.{53}$/.exec(stored)![0];

  it('verifies the right password and refuses others', async () => {
    const hash = await hasher.hash('correct horse battery staple');
    expect(bcryptPart(hash)).to.match(/^\$2b\$04\$/);
    expect(await hasher.verify('correct horse battery staple', hash)).to.equal(true);
    expect(await hasher.verify('correct horse battery stapl', hash)).to.equal(false);
  });

  it('does not truncate passwords longer than bcrypt\'s 72 bytes', async () => {
    const prefix = 'p'.repeat(72);
    const hash = await hasher.hash(`${prefix}-one`);
    expect(await hasher.verify(`${prefix}-two`, hash)).to.equal(false);
    expect(await hasher.verify(`${prefix}-one`, hash)).to.equal(true);
    // Plain bcrypt would have accepted it: the pre-hash is what makes the difference.
    const plain = bcrypt.hashSync(`${prefix}-one`, 4);
    expect(bcrypt.compareSync(`${prefix}-two`, plain)).to.equal(true);
  });

  it('treats canonically equivalent Unicode as the same password (NFKC)', async () => {
    const composed = 'caf\u00e9 au lait'; // é as one code point
    const decomposed = 'cafe\u0301 au lait'; // e + combining accent
    expect(passwordDigest(composed)).to.equal(passwordDigest(decomposed));
    const hash = await hasher.hash(composed);
    expect(await hasher.verify(decomposed, hash)).to.equal(true);
  });

  it('compares against a decoy when there is no stored hash', async () => {
    expect(await hasher.verify('anything at all', '')).to.equal(false);
  });

  it('asks for a re-hash when the cost differs from the configured one', async () => {
    const strong = createPasswordHasher({ cost: 5, threads: 1 });
    try {
      expect(hasher.needsRehash(await strong.hash('x'))).to.equal(true);
      expect(hasher.needsRehash(await hasher.hash('x'))).to.equal(false);
    } finally {
      await strong.close();
    }
  });

  it('password shucking: the stored hash is not bcrypt over a plain SHA-256 of the password, so leaked SHA-256 lists cannot be tried against it', async () => {
    const password = 'correct horse battery staple';
    const stored = await hasher.hash(password);
    expect(bcrypt.compareSync(sha256(password), bcryptPart(stored)), 'bcrypt(sha256(password))').to.equal(false);
    expect(bcrypt.compareSync(createHash('sha256').update(password).digest('hex'), bcryptPart(stored)), 'bcrypt(hex sha256)').to.equal(false);
    expect(passwordDigest(password)).not.to.equal(sha256(password));
  });

  it('password shucking: hashes of the SHA-256 scheme keep verifying, and ask to be redone', async () => {
    const legacy = bcrypt.hashSync(sha256('an old passphrase'), 4);
    expect(await hasher.verify('an old passphrase', legacy)).to.equal(true);
    expect(await hasher.verify('another passphrase', legacy)).to.equal(false);
    expect(hasher.needsRehash(legacy)).to.equal(true);
    // Neither scheme's stored value verifies under the other's digest.
    const current = await hasher.hash('an old passphrase');
    expect(await hasher.verify('an old passphrase', bcryptPart(current))).to.equal(false);
  });
});
