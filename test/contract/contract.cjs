'use strict';
/**
 * What the contract run (run.mjs) and the dredd hooks (hooks.cjs) share: the list of transactions we deliberately
 * skip, the list of documented responses (one dredd transaction each), the OpenAPI 3.0 → JSON Schema conversion
 * for body checks, and the in-process context that run.mjs hands to the hooks (dredd's JS API loads the hooks in
 * this same process).
 */

const RATE_LIMIT_REASON =
  'the rate limit is per client IP and minute: the server we start runs with RATE_LIMIT_PER_MINUTE=10000, so a real ' +
  '429 would take 10000+ requests; against staging, exhausting the limit would lock this client out of the ' +
  'operation for a minute and break the transactions after it';

/**
 * Every transaction the hooks skip, with the reason. `when` makes a skip conditional:
 *   - 'no-mail': only when no mail catcher receives the server's mail (a staging run without CONTRACT_SMTP_PORT).
 *   - 'no-webauthn-origin': against a base URL without CONTRACT_WEBAUTHN_ORIGIN (one of the server's WEBAUTHN_ORIGINS)
 *     or without mail: the software authenticator cannot answer a passkey ceremony for a throw-away account.
 * The expected number of passing transactions is every documented response minus the active skips.
 */
const SKIPS = [
  {
    operationId: 'getReadiness',
    status: '503',
    reason: 'needs the database to stop answering; cannot be produced against a healthy server',
  },
  // 503 server-busy: test/api/bcrypt-amplification.test.ts produces it against one hashing thread.
  ...[
    'register',
    'verifyEmail',
    'login',
    'resetPassword',
    'changePassword',
    'deleteMe',
    'enrollTotp',
    'enableEmailOtp',
    'disableTotp',
    'disableEmailOtp',
    'regenerateRecoveryCodes',
    'startIdentityLink',
    'startPasskeyRegistration',
  ].map((operationId) => ({
    operationId,
    status: '503',
    reason:
      'server-busy needs the password-hashing queue (PASSWORD_HASH_QUEUE) full at the moment of the request, which ' +
      'takes a flood of concurrent hashes; dredd sends one request at a time',
  })),
  { operationId: 'register', status: '429', reason: RATE_LIMIT_REASON },
  { operationId: 'verifyEmail', status: '429', reason: RATE_LIMIT_REASON },
  { operationId: 'resendVerification', status: '429', reason: RATE_LIMIT_REASON },
  { operationId: 'login', status: '429', reason: RATE_LIMIT_REASON },
  { operationId: 'exportMyData', status: '429', reason: RATE_LIMIT_REASON },
  { operationId: 'forgotPassword', status: '429', reason: RATE_LIMIT_REASON },
  { operationId: 'resetPassword', status: '429', reason: RATE_LIMIT_REASON },
  { operationId: 'verifyMfa', status: '429', reason: RATE_LIMIT_REASON },
  ...['changePassword', 'deleteMe', 'enrollTotp', 'enableEmailOtp', 'disableTotp', 'disableEmailOtp', 'regenerateRecoveryCodes', 'startIdentityLink'].map(
    (operationId) => ({
      operationId,
      status: '429',
      reason: `${RATE_LIMIT_REASON}; the other 429 of step-up operations (too-many-failed-attempts) would lock the test account`,
    }),
  ),
  { operationId: 'startOAuth', status: '429', reason: RATE_LIMIT_REASON },
  { operationId: 'createInvitation', status: '429', reason: RATE_LIMIT_REASON },
  { operationId: 'startPasskeySignIn', status: '429', reason: RATE_LIMIT_REASON },
  { operationId: 'finishPasskeySignIn', status: '429', reason: `${RATE_LIMIT_REASON}; its other 429 (too-many-failed-attempts) is covered by test/api/passkeys.test.ts` },
  {
    operationId: 'startPasskeyRegistration',
    status: '429',
    reason: `${RATE_LIMIT_REASON}; the other 429 of step-up operations (too-many-failed-attempts) would lock the test account`,
  },
  {
    operationId: 'deletePasskey',
    status: '409',
    reason:
      'needs an account without a password whose only way in is one passkey, which only a provider sign-in makes; ' +
      'test/api/passkeys.test.ts covers it',
  },
  ...[
    ['finishPasskeyRegistration', '201'],
    ['finishPasskeyRegistration', '409'],
    ['finishPasskeySignIn', '200'],
    ['finishPasskeySignIn', '403'],
    ['renamePasskey', '200'],
    ['deletePasskey', '204'],
  ].map(([operationId, status]) => ({
    operationId,
    status,
    when: 'no-webauthn-origin',
    reason: 'needs a passkey ceremony from one of the server\'s WEBAUTHN_ORIGINS: set CONTRACT_WEBAUTHN_ORIGIN (and the server\'s mail)',
  })),
  {
    operationId: 'finishPasskeySignIn',
    status: '403',
    when: 'no-mail-or-admin',
    reason: 'needs an administrator to lock a throw-away account that has a passkey (accounts are made through mail)',
  },
  { operationId: 'requestEmailSignIn', status: '429', reason: RATE_LIMIT_REASON },
  { operationId: 'finishEmailSignIn', status: '429', reason: RATE_LIMIT_REASON },
  ...['requestEmailSignIn', 'finishEmailSignIn'].map((operationId) => ({
    operationId,
    status: '404',
    reason: 'answered only with EMAIL_SIGN_IN=false, and the server under test has it on; test/api/email-sign-in.test.ts ("turned off") covers it',
  })),
  {
    operationId: 'finishEmailSignIn',
    status: '200',
    when: 'no-mail',
    reason: 'needs the token of a sign-in mail, which only the mail carries',
  },
  {
    operationId: 'finishEmailSignIn',
    status: '403',
    when: 'no-mail-or-admin',
    reason: 'needs the token of a sign-in mail and an administrator to lock the throw-away account',
  },
  {
    operationId: 'resetPassword',
    status: '204',
    when: 'no-mail',
    reason: 'needs a reset token, which only the mail carries; no mail catcher receives the server\'s mail',
  },
  {
    operationId: 'deleteMe',
    status: '204',
    when: 'no-mail',
    reason:
      'needs a throw-away account to delete, and accounts can only be made through a verification mail; no mail ' +
      'catcher receives the server\'s mail (the CONTRACT_EMAIL account is not deleted)',
  },
  {
    operationId: 'verifyEmail',
    status: '403',
    when: 'no-mail',
    reason: 'needs a verification token of a registration of its own, which only the mail carries',
  },
  {
    operationId: 'verifyEmail',
    status: '200',
    when: 'no-mail',
    reason:
      'needs an unused verification token, which only the mail carries; no mail catcher receives the server\'s mail ' +
      '(set CONTRACT_SMTP_PORT and point the server\'s SMTP_URL at this host)',
  },
  ...[
    ['startOAuth', '302'],
    ['finishOAuth', '302'],
    ['startIdentityLink', '200'],
    ['startIdentityLink', '403'],
  ].map(([operationId, status]) => ({
    operationId,
    status,
    when: 'no-provider',
    reason: 'the server has no social sign-in provider configured (listProviders is empty)',
  })),
  {
    operationId: 'unlinkIdentity',
    status: '204',
    reason:
      'needs an account with a linked provider identity, which takes a full sign-in at a real OpenID provider; ' +
      'test/api/social-sign-in.test.ts covers it against a local oidc-provider',
  },
  {
    operationId: 'unlinkIdentity',
    status: '409',
    reason: 'needs an account made through a provider (no password, one identity); covered by test/api/social-sign-in.test.ts',
  },
  // The administration API: an admin account is needed for everything but 401 (and 403, which a plain user gets).
  ...[
    ['adminListUsers', ['200', '400']],
    ['adminGetUser', ['200', '400', '404']],
    ['adminUpdateUser', ['200', '400', '404', '415']],
    ['adminDeleteUser', ['400', '404']],
    ['adminRestoreUser', ['400', '404', '409']],
    ['adminListUserSessions', ['200', '400', '404']],
    ['adminRevokeUserSessions', ['204', '400', '404']],
    ['adminResetUserMfa', ['204', '400', '404']],
    ['adminListLoginAttempts', ['200', '400']],
    ['adminListBlockedIps', ['200', '400']],
    ['adminUnblockIp', ['400', '404']],
    ['adminListAuditEvents', ['200', '400']],
    ['adminRunCleanup', ['200']],
  ].flatMap(([operationId, statuses]) =>
    statuses.map((status) => ({
      operationId,
      status,
      when: 'no-admin',
      reason: 'needs an administrator: against a base URL, set CONTRACT_ADMIN_EMAIL and CONTRACT_ADMIN_PASSWORD',
    })),
  ),
  ...[
    ['adminDeleteUser', '204'],
    ['adminRestoreUser', '200'],
    ['login', '403'],
  ].map(([operationId, status]) => ({
    operationId,
    status,
    when: 'no-mail-or-admin',
    reason: 'needs an administrator and a throw-away account to change (accounts are made through mail)',
  })),
  ...[
    ['adminUpdateUser', '409', 'needs the only administrator (last-admin); a staging server may have several'],
    ['adminDeleteUser', '409', 'needs the only administrator (last-admin); a staging server may have several'],
    // Worse than a skip if it went wrong: with a second administrator there, the given one would delete itself.
    ['deleteMe', '409', 'needs the only administrator (last-admin); a staging server may have several'],
    ['adminUnblockIp', '204', 'blocks an IP of its own first: done only on a server this run started (TRUST_PROXY)'],
    ['adminRotateSigningKey', '200', 'rotates the signing key: done only on a server this run started'],
    ...['adminCreateWebhook 201', 'adminGetWebhook 200', 'adminGetWebhook 400', 'adminUpdateWebhook 200', 'adminUpdateWebhook 400', 'adminUpdateWebhook 415', 'adminUpdateWebhook 422', 'adminDeleteWebhook 204', 'adminDeleteWebhook 400', 'adminRotateWebhookSecret 200', 'adminRotateWebhookSecret 400', 'adminListWebhookDeliveries 200', 'adminListWebhookDeliveries 400', 'adminRedeliverWebhook 202', 'adminRedeliverWebhook 400', 'adminRedeliverWebhook 404', 'adminPingWebhook 202', 'adminPingWebhook 400'].map((key) => [
      ...key.split(' '),
      'needs a webhook endpoint on 127.0.0.1, which only a server this run started allows (WEBHOOK_ALLOW_PRIVATE_NETWORKS); a staging server would also call it',
    ]),
  ].map(([operationId, status, reason]) => ({ operationId, status, when: 'external', reason })),
  {
    operationId: 'adminRotateSigningKey',
    status: '409',
    reason: 'needs a server whose key comes from SIGNING_KEY; covered by test/api/admin-keys.test.ts',
  },
  ...[
    ['verifyMfa', '200'],
    ['enrollTotp', '409'],
    ['regenerateRecoveryCodes', '200'],
    ['regenerateRecoveryCodes', '403'],
  ].map(([operationId, status]) => ({
    operationId,
    status,
    when: 'no-mail',
    reason:
      'needs a throw-away account with an authenticator app turned on (the CONTRACT_EMAIL account is not given one); ' +
      'accounts can only be made through a verification mail, and no mail catcher receives the server\'s mail',
  })),
  {
    operationId: 'acceptInvitation',
    status: '410',
    reason: 'needs an invitation older than INVITATION_TTL (7 days by default); test/api/organizations.test.ts covers it with a fake clock',
  },
  // Organizations: a second member, and every invitation token, come through mail.
  ...[
    ['updateOrganization', '403'],
    ['deleteOrganization', '403'],
    ['updateOrganizationMember', '200'],
    ['updateOrganizationMember', '403'],
    ['removeOrganizationMember', '204'],
    ['removeOrganizationMember', '403'],
    ['createInvitation', '403'],
    ['listInvitations', '403'],
    ['revokeInvitation', '403'],
    ['acceptInvitation', '200'],
    ['acceptInvitation', '403'],
    ['acceptInvitation', '409'],
  ].map(([operationId, status]) => ({
    operationId,
    status,
    when: 'no-mail',
    reason: 'needs a second account in the organization, or an invitation token, and both come only through mail',
  })),
  ...[
    ['adminListOrganizations', '200'],
    ['adminListOrganizations', '400'],
    ['adminSetOrganizationMemberRole', '200'],
    ['adminSetOrganizationMemberRole', '400'],
    ['adminSetOrganizationMemberRole', '404'],
    ['adminSetOrganizationMemberRole', '409'],
    ['adminSetOrganizationMemberRole', '415'],
  ].map(([operationId, status]) => ({
    operationId,
    status,
    when: 'no-admin',
    reason: 'needs an administrator: against a base URL, set CONTRACT_ADMIN_EMAIL and CONTRACT_ADMIN_PASSWORD',
  })),
  // Shared answers of every operation that no well-behaved request produces (`*`: any operation; the entries above
  // come first, so an operation's own reason wins).
  {
    operationId: '*',
    status: '500',
    reason: 'internal-error is a fault of the server: no request a client can send may produce it (test/resilience/fuzz.test.ts checks that none does)',
  },
  {
    operationId: '*',
    status: '503',
    reason:
      'service-unavailable needs the database to stop answering mid-run; test/resilience produces it against a database that goes away',
  },
];

/** The skips that apply to this run. */
function activeSkips({ mailAvailable, providerAvailable, adminAvailable, external, webauthnAvailable = true }) {
  const applies = {
    'no-webauthn-origin': !webauthnAvailable || !mailAvailable,
    'no-mail': !mailAvailable,
    'no-provider': !providerAvailable,
    'no-admin': !adminAvailable,
    'no-mail-or-admin': !mailAvailable || !adminAvailable,
    external,
  };
  return SKIPS.filter((skip) => !skip.when || applies[skip.when]);
}

function findSkip(skips, operationId, status) {
  return skips.find((skip) => (skip.operationId === operationId || skip.operationId === '*') && skip.status === String(status));
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options', 'trace'];

/**
 * Every documented response of every operation, in spec order: what dredd turns into transactions (one per
 * status and media type; one per status when the response has no body).
 */
function documentedResponses(spec) {
  const found = [];
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      for (const [status, response] of Object.entries(operation.responses || {})) {
        const mediaTypes = Object.keys(response.content || {});
        for (const mediaType of mediaTypes.length ? mediaTypes : [null]) {
          found.push({
            operationId: operation.operationId,
            method: method.toUpperCase(),
            path,
            status: String(status),
            mediaType,
            schema: mediaType ? response.content[mediaType].schema : undefined,
          });
        }
      }
    }
  }
  return found;
}

/** A stable key for one documented response / one transaction. */
const responseKey = ({ method, path, status, mediaType }) => `${method.toUpperCase()} ${path} ${status} ${mediaType || '-'}`;

// Formats that ajv 6 (the validator inside dredd's gavel) knows; any other (`password`, ...) would make it throw.
const KNOWN_FORMATS = new Set([
  'date', 'time', 'date-time', 'uri', 'uri-reference', 'uri-template', 'url', 'email', 'hostname', 'ipv4', 'ipv6',
  'regex', 'uuid', 'json-pointer', 'relative-json-pointer',
]);
// OpenAPI-only keywords (and annotations) that are not JSON Schema draft 7, dropped from the converted schema.
const DROPPED = new Set(['nullable', 'example', 'examples', 'xml', 'externalDocs', 'discriminator', 'deprecated']);

/**
 * Converts an OpenAPI 3.0 schema (dereferenced) to JSON Schema draft 7 for gavel: `nullable: true` becomes a
 * `null` type (and a `null` enum member), unknown formats and OpenAPI-only keywords go.
 */
function toJsonSchema(schema, { root = true } = {}) {
  if (schema === null || typeof schema !== 'object') return schema;
  if (Array.isArray(schema)) return schema.map((item) => toJsonSchema(item, { root: false }));
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (DROPPED.has(key)) continue;
    if (key === 'format' && !KNOWN_FORMATS.has(value)) continue;
    if (key === 'properties' || key === 'patternProperties' || key === 'definitions') {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, toJsonSchema(sub, { root: false })]));
    } else if (['items', 'additionalProperties', 'not', 'allOf', 'anyOf', 'oneOf'].includes(key)) {
      out[key] = typeof value === 'object' ? toJsonSchema(value, { root: false }) : value;
    } else {
      out[key] = value;
    }
  }
  if (schema.nullable === true) {
    if (out.type !== undefined) out.type = [...new Set([...[].concat(out.type), 'null'])];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    if (out.type === undefined && (out.allOf || out.anyOf || out.oneOf)) {
      return { anyOf: [{ type: 'null' }, out], ...(root ? { $schema: 'http://json-schema.org/draft-07/schema#' } : {}) };
    }
  }
  if (root) out.$schema = 'http://json-schema.org/draft-07/schema#';
  return out;
}

// run.mjs → hooks.cjs, in one process: { baseUrl, specPath, mail (catcher or null), credentials, mailTimeoutMs }.
const CONTEXT = Symbol.for('pulse-auth.contract-tests.context');

function setContext(context) {
  globalThis[CONTEXT] = context;
}

function getContext() {
  const context = globalThis[CONTEXT];
  if (!context) {
    throw new Error('test/contract/hooks.cjs runs only under test/contract/run.mjs (npm run test:contract), which hands it the spec and the mail catcher');
  }
  return context;
}

module.exports = {
  SKIPS,
  activeSkips,
  findSkip,
  documentedResponses,
  responseKey,
  toJsonSchema,
  setContext,
  getContext,
};
