import { expect } from 'chai';
import { responseViolations } from './server.js';

/**
 * Mocha root hooks: after the whole suite, no server the tests started may have found a response of its own that
 * breaks the spec (VALIDATE_RESPONSES is on in tests; a violation is answered as a 500 and logged).
 */
export const mochaHooks = {
  afterAll() {
    expect(responseViolations, 'responses that broke the spec, seen by the server-side validator').to.deep.equal([]);
  },
};
