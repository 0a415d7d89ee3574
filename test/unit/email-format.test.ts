import { expect } from 'chai';
import fc from 'fast-check';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { isEmailAddress } from '../../src/domain/users/email-format.js';

/**
 * The domain's email check (provider claims, ADMIN_EMAILS) must accept exactly what the request validator accepts
 * for the spec's Email schema at sign-up: express-openapi-validator runs ajv with ajv-formats in "fast" mode.
 */
describe('isEmailAddress', () => {
  const ajv = new Ajv();
  addFormats.default(ajv, { mode: 'fast' });
  const validatorAccepts = ajv.compile({ type: 'string', format: 'email', maxLength: 254 });

  it('agrees with the request validator on hand-picked addresses, Unicode look-alikes included', () => {
    const samples = [
      'kate@example.com',
      'Kate.Smith+tag@Example.co.uk',
      '\u212Aate@example.com', // KELVIN SIGN, lower-cases to "k"
      'kate@\u212Aexample.com',
      '\u017Fam@example.com', // LONG S, upper-cases to "S"
      'ad\u00e9@example.com',
      '\uff4bate@example.com', // FULLWIDTH k
      ' kate@example.com',
      'kate@example.com\n',
      'kate',
      'kate@',
      '@example.com',
      `${'a'.repeat(250)}@b.co`,
    ];
    for (const sample of samples) expect(isEmailAddress(sample), JSON.stringify(sample)).to.equal(validatorAccepts(sample));
    expect(isEmailAddress('\u212Aate@example.com')).to.equal(false);
  });

  it('agrees with the request validator on generated strings', () => {
    const alphabet = fc.constantFrom(...'aKk.-_+@ \u212A\u017F\u0130\u00e9'.split(''), 'example', '.com', '@example.com');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 12 }).map((parts) => parts.join('')), (value) => {
        expect(isEmailAddress(value), JSON.stringify(value)).to.equal(validatorAccepts(value));
      }),
      { numRuns: 2000 },
    );
  });
});
