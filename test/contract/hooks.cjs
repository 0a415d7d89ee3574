'use strict';
/**
 * Dredd hooks for the Pulse Auth contract tests. Loaded by test/contract/run.mjs through dredd's JS API, so they run
 * in the same process and get the spec, the server's base URL and the mail catcher from its context.
 *
 * Dredd makes one transaction per documented response and sends the spec's example request for each. These hooks
 * shape every transaction so that the server really produces the documented status (a wrong password for 401, no
 * token for 401 on bearer operations, `text/plain` for 415, ...), add the bearer token that dredd ignores, and set
 * the spec's response schema as `expected.bodySchema` so bodies are checked against it.
 *
 * Rules of dredd's hook API kept here: hooks are CommonJS; an async hook takes `(transaction, done)` and must call
 * `done` (dredd never awaits a promise; a hook with no parameter is never run to completion). A hook that fails
 * marks its transaction failed through `transaction.fail`.
 *
 * Dredd runs the transactions in spec order; the hooks keep the main session's tokens valid across it
 * (refreshTokens rotates the refresh token; logoutAll ends every session, so the main session signs in again
 * after it).
 */
const hooks = require('hooks');
const { readFileSync } = require('node:fs');
const { randomBytes, randomUUID } = require('node:crypto');
const { generate: totpCode } = require('otplib');
const { getContext, activeSkips, findSkip, documentedResponses, responseKey, toJsonSchema } = require('./contract.cjs');
const { verificationTokenOf } = require('../helpers/mail-catcher.cjs');
const { SoftwareAuthenticator } = require('../helpers/software-authenticator.cjs');

const REFRESH_COOKIE = 'pulse_auth_refresh';
const runId = randomBytes(4).toString('hex');
const random = (bytes = 18) => randomBytes(bytes).toString('base64url');
const freshEmail = (label) => `contract-${runId}-${label}-${randomBytes(3).toString('hex')}@example.com`;
/** 24 random characters: long, and on no common-password list. */
const strongPassword = () => random(18);

let context;
let skips = [];
const operations = new Map(); // "POST /v1/auth/login" -> operationId
const schemas = new Map(); // responseKey -> OpenAPI schema
let setupError = null;

/** The main account and session, shared by the transactions that need to be signed in. */
const state = {
  email: null,
  password: null,
  accessToken: null,
  refreshToken: null,
  pendingEmail: null, // registered by the register 202 transaction, verified by the verifyEmail 200 transaction
  changedPassword: null, // set by changePassword 204, changed back after it
};

/** The example of the sessionId path parameter in the spec, which dredd puts in the URL. */
const SESSION_ID_EXAMPLE = '3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
/** The examples of the userId and ip path parameters, and the IP adminUnblockIp 204 blocks and lifts. */
const USER_ID_EXAMPLE = '0b7e6f3c-2d55-4f0e-9d0a-8a4c1e2f3b4d';
const IP_EXAMPLE = '203.0.113.5';
const BLOCKED_IP = '203.0.113.250';
/** The example of the provider path parameter. */
const PROVIDER_EXAMPLE = 'google';
/** The example of the passkeyId path parameter. */
const PASSKEY_ID_EXAMPLE = '1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b';
/** The examples of the webhookId and deliveryId path parameters. */
const WEBHOOK_ID_EXAMPLE = '7d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d';
const DELIVERY_ID_EXAMPLE = '01938a3c-5b7e-7f00-8a1b-2c3d4e5f6a7b';
/** Well-formed WebAuthn answers that no authenticator made (they pass the spec's validation, then fail their checks). */
const shapedRegistration = () => ({
  id: random(32),
  rawId: random(32),
  response: { clientDataJSON: 'e30', attestationObject: 'oA' },
  clientExtensionResults: {},
  type: 'public-key',
});
const shapedAuthentication = () => ({
  id: random(32),
  rawId: random(32),
  response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: 'AA' },
  clientExtensionResults: {},
  type: 'public-key',
});

// ---------------------------------------------------------------------------------------------------------------
// Plain HTTP calls for the setup (outside dredd's transactions).

async function api(method, path, { body, token, expect } = {}) {
  const url = new URL(path.replace(/^\//, ''), context.baseUrl.endsWith('/') ? context.baseUrl : `${context.baseUrl}/`);
  const headers = { accept: 'application/json, application/problem+json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new Error(`setup: ${method} ${path} got no answer: ${error.cause?.message ?? error.message}`, { cause: error });
  }
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (expect !== undefined && response.status !== expect) {
    throw new Error(`setup: ${method} ${path} answered ${response.status} (expected ${expect}): ${text.slice(0, 500)}`);
  }
  return { status: response.status, headers: response.headers, json };
}

async function verificationToken(email) {
  if (!context.mail) throw new Error('no mail catcher: verification mail cannot be read');
  const mail = await context.mail.waitFor(email, {
    match: (m) => verificationTokenOf(m) !== null,
    timeoutMs: context.mailTimeoutMs,
  });
  return verificationTokenOf(mail);
}

async function registerAndVerify(email, password) {
  await api('POST', '/v1/auth/register', { body: { email, password }, expect: 202 });
  const token = await verificationToken(email);
  await api('POST', '/v1/auth/verify-email', { body: { token, password }, expect: 200 });
}

/** The token of the newest mail to `email` whose subject matches (e.g. the password-reset link). */
async function mailedToken(email, subject) {
  if (!context.mail) throw new Error('no mail catcher: mail cannot be read');
  const mail = await context.mail.waitFor(email, {
    match: (m) => subject.test(m.subject) && verificationTokenOf(m) !== null,
    timeoutMs: context.mailTimeoutMs,
  });
  return verificationTokenOf(mail);
}

/** A new session of the main account (or of `account`); body delivery so both tokens come back in the body. */
async function signIn(account = state) {
  const { json } = await api('POST', '/v1/auth/login', {
    body: { email: account.email, password: account.password, refreshTokenDelivery: 'body' },
    expect: 200,
  });
  if (!json?.accessToken || !json?.refreshToken) throw new Error('setup: login answered without accessToken/refreshToken');
  return { accessToken: json.accessToken, refreshToken: json.refreshToken, sessionId: json.session?.id };
}

/** A fresh, verified account of its own, for transactions that would spoil the main one. */
async function throwAwayAccount(prefix) {
  const account = { email: freshEmail(prefix), password: strongPassword() };
  await registerAndVerify(account.email, account.password);
  return account;
}

/**
 * A throw-away account with an authenticator app turned on, made once and shared by the transactions that need
 * one. Its recovery codes are handed out one per use.
 */
let totpAccountPromise;
function totpAccount() {
  totpAccountPromise ??= (async () => {
    const account = await throwAwayAccount('totp');
    const { accessToken } = await signIn(account);
    const { json: enrolment } = await api('POST', '/v1/me/mfa/totp', { token: accessToken, body: { password: account.password }, expect: 200 });
    const { json: confirmed } = await api('POST', '/v1/me/mfa/totp/confirm', {
      token: accessToken,
      body: { code: await totpCode({ secret: enrolment.secret }) },
      expect: 200,
    });
    return { ...account, accessToken, recoveryCodes: confirmed.recoveryCodes };
  })();
  return totpAccountPromise;
}

/** The administrator's access token (registered on our own server, given against a base URL). */
let adminPromise;
function adminToken() {
  adminPromise ??= (async () => {
    if (context.admin.register) await registerAndVerify(context.admin.email, context.admin.password);
    const { json } = await api('POST', '/v1/auth/login', {
      body: { email: context.admin.email, password: context.admin.password, refreshTokenDelivery: 'body' },
      expect: 200,
    });
    if (!json?.accessToken) throw new Error('setup: the administrator signs in with a second factor; use one without');
    return json.accessToken;
  })();
  return adminPromise;
}

/** The main account's user id (from getMe). */
async function mainUserId() {
  const { json } = await api('GET', '/v1/me', { token: state.accessToken, expect: 200 });
  return json.id;
}

/** A throw-away account for administration transactions that change it (delete, restore). */
let victimPromise;
function victimAccount() {
  victimPromise ??= (async () => {
    const account = await throwAwayAccount('victim');
    const { json } = await api('POST', '/v1/auth/login', { body: { ...account, refreshTokenDelivery: 'body' }, expect: 200 });
    return { ...account, id: json.user.id };
  })();
  return victimPromise;
}

/**
 * A new passkey of `account` (signed in with `accessToken`), made by a software authenticator that reports the
 * run's WebAuthn origin: the stored passkey, the authenticator and its credential.
 */
async function registerPasskey(account, accessToken, authenticator = new SoftwareAuthenticator(context.webauthnOrigin)) {
  const { json: started } = await api('POST', '/v1/me/passkeys/options', { token: accessToken, body: { password: account.password }, expect: 200 });
  const made = authenticator.register(started.options);
  const { json: passkey } = await api('POST', '/v1/me/passkeys', {
    token: accessToken,
    body: { challengeId: started.challengeId, credential: made.json, name: 'Contract key' },
    expect: 201,
  });
  return { passkey, authenticator, credential: made.credential };
}

/** A throw-away account with a passkey, made once and shared by the passkey sign-in transactions. */
let passkeyAccountPromise;
function passkeyAccount() {
  passkeyAccountPromise ??= (async () => {
    const account = await throwAwayAccount('passkey');
    const { accessToken } = await signIn(account);
    return { ...account, accessToken, ...(await registerPasskey(account, accessToken)) };
  })();
  return passkeyAccountPromise;
}

/** The sign-in options of a new passkey challenge. */
async function passkeySignInStart() {
  const { json } = await api('POST', '/v1/auth/passkey/options', { body: {}, expect: 200 });
  return json;
}

/** Replaces the whole request target (path and query). */
function requestTarget(transaction, target) {
  transaction.fullPath = target;
  transaction.request.uri = target;
}

/** Puts a real value in place of the spec's example for a path parameter. */
function pathParameter(transaction, example, value) {
  transaction.fullPath = transaction.fullPath.replace(example, encodeURIComponent(value));
  transaction.request.uri = transaction.request.uri.replace(example, encodeURIComponent(value));
}

async function signInMainSession() {
  const session = await signIn();
  state.accessToken = session.accessToken;
  state.refreshToken = session.refreshToken;
}

// ---------------------------------------------------------------------------------------------------------------
// Shaping a transaction's request.

function setHeader(transaction, name, value) {
  for (const key of Object.keys(transaction.request.headers)) {
    if (key.toLowerCase() === name.toLowerCase()) delete transaction.request.headers[key];
  }
  if (value !== undefined) transaction.request.headers[name] = value;
}

function jsonBody(transaction, body) {
  transaction.request.body = JSON.stringify(body);
  setHeader(transaction, 'Content-Type', 'application/json');
}

/** The example body as it is, sent with a media type the API does not take. */
function textPlain(transaction) {
  setHeader(transaction, 'Content-Type', 'text/plain');
}

function bearer(transaction, token = state.accessToken) {
  setHeader(transaction, 'Authorization', `Bearer ${token}`);
}

function noAuthorization(transaction) {
  setHeader(transaction, 'Authorization', undefined);
  setHeader(transaction, 'Cookie', undefined);
}

/** The refresh token of a `Set-Cookie: pulse_auth_refresh=...` response header, if any. */
function refreshCookieOf(real) {
  const header = real.headers['set-cookie'];
  for (const line of [].concat(header || [])) {
    const match = new RegExp(`^\\s*${REFRESH_COOKIE}=([^;]*)`).exec(line);
    if (match && match[1]) return decodeURIComponent(match[1]);
  }
  return null;
}

function realJson(transaction) {
  try {
    return JSON.parse(transaction.real?.body || '');
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Organizations.

/** The examples of the orgId and invitationId path parameters. */
const ORG_ID_EXAMPLE = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const INVITATION_ID_EXAMPLE = '2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e';

/** A new organization of the main account (its owner). */
async function newOrg(token = state.accessToken) {
  const { json } = await api('POST', '/v1/orgs', { token, body: { name: `Contract org ${random(3)}` }, expect: 201 });
  return json;
}

/** Invitation tokens already handed out: an email invited twice has both mails in the catcher. */
const seenInvitationTokens = new Set();

/** Invites `email` to `orgId` (as the main account) and answers with the token of the new mail. */
async function invitationToken(orgId, email, role = 'member') {
  if (!context.mail) throw new Error('no mail catcher: invitation mail cannot be read');
  const { json } = await api('POST', `/v1/orgs/${orgId}/invitations`, { token: state.accessToken, body: { email, role }, expect: 201 });
  const mail = await context.mail.waitFor(email, {
    match: (m) => /^Join /.test(m.subject) && verificationTokenOf(m) !== null && !seenInvitationTokens.has(verificationTokenOf(m)),
    timeoutMs: context.mailTimeoutMs,
  });
  const token = verificationTokenOf(mail);
  seenInvitationTokens.add(token);
  return { invitation: json, token };
}

/**
 * An organization of the main account with a second account as a plain member (joined through a real invitation,
 * whose spent token is kept for acceptInvitation 409): made once, shared by the transactions that need a member.
 */
let orgWithMemberPromise;
function orgWithMember() {
  orgWithMemberPromise ??= (async () => {
    const account = await throwAwayAccount('member');
    const session = await signIn(account);
    const org = await newOrg();
    const { token } = await invitationToken(org.id, account.email);
    await api('POST', '/v1/invitations/accept', { token: session.accessToken, body: { token }, expect: 200 });
    const { json: me } = await api('GET', '/v1/me', { token: session.accessToken, expect: 200 });
    return { org, member: { ...account, ...session, id: me.id }, spentToken: token };
  })();
  return orgWithMemberPromise;
}

const orgHooks = {
  'createOrganization 201': (t) => {
    bearer(t);
    jsonBody(t, { name: 'Contract Inc.' });
  },
  'createOrganization 400': (t) => {
    bearer(t);
    jsonBody(t, { name: '' });
  },
  'createOrganization 409': async (t) => {
    const taken = await newOrg();
    bearer(t);
    jsonBody(t, { name: 'Contract Inc.', slug: taken.slug });
  },
  'createOrganization 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  'listMyOrganizations 200': (t) => bearer(t),
  'listMyOrganizations 400': (t) => {
    bearer(t);
    requestTarget(t, '/v1/orgs?limit=0');
  },
  'getOrganization 200': async (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, (await newOrg()).id);
  },
  'getOrganization 400': (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, 'not-a-uuid');
  },
  // The spec's example id is no organization of the main account: not-a-member.
  'getOrganization 404': (t) => bearer(t),
  'updateOrganization 200': async (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, (await newOrg()).id);
    jsonBody(t, { name: 'Renamed by contract' });
  },
  'updateOrganization 400': (t) => {
    bearer(t);
    jsonBody(t, {});
  },
  // A plain member may not rename: insufficient-role.
  'updateOrganization 403': async (t) => {
    const { org, member } = await orgWithMember();
    bearer(t, member.accessToken);
    pathParameter(t, ORG_ID_EXAMPLE, org.id);
    jsonBody(t, { name: 'Not allowed' });
  },
  'updateOrganization 404': (t) => {
    bearer(t);
    jsonBody(t, { name: 'Nobody' });
  },
  'updateOrganization 409': async (t) => {
    const [first, second] = [await newOrg(), await newOrg()];
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, second.id);
    jsonBody(t, { slug: first.slug });
  },
  'updateOrganization 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  'deleteOrganization 204': async (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, (await newOrg()).id);
  },
  'deleteOrganization 400': (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, 'not-a-uuid');
  },
  'deleteOrganization 403': async (t) => {
    const { org, member } = await orgWithMember();
    bearer(t, member.accessToken);
    pathParameter(t, ORG_ID_EXAMPLE, org.id);
  },
  'deleteOrganization 404': (t) => bearer(t),
  'listOrganizationMembers 200': async (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, (await newOrg()).id);
  },
  'listOrganizationMembers 400': async (t) => {
    bearer(t);
    requestTarget(t, `/v1/orgs/${(await newOrg()).id}/members?limit=0`);
  },
  'listOrganizationMembers 404': (t) => bearer(t),
  // The member keeps its role (an owner may set any role; the same one changes nothing).
  'updateOrganizationMember 200': async (t) => {
    const { org, member } = await orgWithMember();
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, org.id);
    pathParameter(t, USER_ID_EXAMPLE, member.id);
    jsonBody(t, { role: 'member' });
  },
  'updateOrganizationMember 400': (t) => {
    bearer(t);
    jsonBody(t, { role: 'boss' });
  },
  // The member tries to demote the owner.
  'updateOrganizationMember 403': async (t) => {
    const { org, member } = await orgWithMember();
    bearer(t, member.accessToken);
    pathParameter(t, ORG_ID_EXAMPLE, org.id);
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
    jsonBody(t, { role: 'member' });
  },
  'updateOrganizationMember 404': (t) => {
    bearer(t);
    jsonBody(t, { role: 'member' });
  },
  // The only owner demotes itself: last-owner.
  'updateOrganizationMember 409': async (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, (await newOrg()).id);
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
    jsonBody(t, { role: 'admin' });
  },
  'updateOrganizationMember 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  // The shared member joins a second organization through an invitation, and the owner removes it there.
  'removeOrganizationMember 204': async (t) => {
    const { member } = await orgWithMember();
    const org = await newOrg();
    const { token } = await invitationToken(org.id, member.email);
    await api('POST', '/v1/invitations/accept', { token: member.accessToken, body: { token }, expect: 200 });
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, org.id);
    pathParameter(t, USER_ID_EXAMPLE, member.id);
  },
  'removeOrganizationMember 400': (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, 'not-a-uuid');
  },
  'removeOrganizationMember 403': async (t) => {
    const { org, member } = await orgWithMember();
    bearer(t, member.accessToken);
    pathParameter(t, ORG_ID_EXAMPLE, org.id);
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
  },
  'removeOrganizationMember 404': (t) => bearer(t),
  // The only owner leaves: last-owner.
  'removeOrganizationMember 409': async (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, (await newOrg()).id);
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
  },
  'createInvitation 201': async (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, (await newOrg()).id);
    jsonBody(t, { email: freshEmail('invitee'), role: 'member' });
  },
  'createInvitation 400': (t) => {
    bearer(t);
    jsonBody(t, { email: 'not-an-email', role: 'member' });
  },
  'createInvitation 403': async (t) => {
    const { org, member } = await orgWithMember();
    bearer(t, member.accessToken);
    pathParameter(t, ORG_ID_EXAMPLE, org.id);
    jsonBody(t, { email: freshEmail('invitee'), role: 'member' });
  },
  'createInvitation 404': (t) => {
    bearer(t);
    jsonBody(t, { email: freshEmail('invitee'), role: 'member' });
  },
  // The owner invites its own email: already-a-member.
  'createInvitation 409': async (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, (await newOrg()).id);
    jsonBody(t, { email: state.email, role: 'member' });
  },
  'createInvitation 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  'listInvitations 200': async (t) => {
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, (await newOrg()).id);
  },
  'listInvitations 400': async (t) => {
    bearer(t);
    requestTarget(t, `/v1/orgs/${(await newOrg()).id}/invitations?limit=0`);
  },
  'listInvitations 403': async (t) => {
    const { org, member } = await orgWithMember();
    bearer(t, member.accessToken);
    pathParameter(t, ORG_ID_EXAMPLE, org.id);
  },
  'listInvitations 404': (t) => bearer(t),
  'revokeInvitation 204': async (t) => {
    const org = await newOrg();
    const { json } = await api('POST', `/v1/orgs/${org.id}/invitations`, { token: state.accessToken, body: { email: freshEmail('revoked'), role: 'member' }, expect: 201 });
    bearer(t);
    pathParameter(t, ORG_ID_EXAMPLE, org.id);
    pathParameter(t, INVITATION_ID_EXAMPLE, json.id);
  },
  'revokeInvitation 400': (t) => {
    bearer(t);
    pathParameter(t, INVITATION_ID_EXAMPLE, 'not-a-uuid');
  },
  'revokeInvitation 403': async (t) => {
    const { org, member } = await orgWithMember();
    bearer(t, member.accessToken);
    pathParameter(t, ORG_ID_EXAMPLE, org.id);
  },
  'revokeInvitation 404': (t) => bearer(t),
  'acceptInvitation 200': async (t) => {
    const { member } = await orgWithMember();
    const org = await newOrg();
    const { token } = await invitationToken(org.id, member.email);
    bearer(t, member.accessToken);
    jsonBody(t, { token });
  },
  'acceptInvitation 400': (t) => {
    bearer(t);
    jsonBody(t, { token: `unknown-${random()}` });
  },
  // An invitation for another email, presented by the main account: invitation-email-mismatch.
  'acceptInvitation 403': async (t) => {
    const { token } = await invitationToken((await newOrg()).id, freshEmail('someone-else'));
    bearer(t);
    jsonBody(t, { token });
  },
  'acceptInvitation 409': async (t) => {
    const { member, spentToken } = await orgWithMember();
    bearer(t, member.accessToken);
    jsonBody(t, { token: spentToken });
  },
  'acceptInvitation 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  'setActiveOrganization 200': async (t) => {
    bearer(t);
    jsonBody(t, { organizationId: (await newOrg()).id });
  },
  'setActiveOrganization 400': (t) => {
    bearer(t);
    jsonBody(t, { organizationId: 'not-a-uuid' });
  },
  'setActiveOrganization 404': (t) => {
    bearer(t);
    jsonBody(t, { organizationId: randomUUID() });
  },
  'setActiveOrganization 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  'adminListOrganizations 200': async (t) => bearer(t, await adminToken()),
  'adminListOrganizations 400': async (t) => {
    bearer(t, await adminToken());
    requestTarget(t, '/v1/admin/orgs?limit=0');
  },
  // The administrator sets the owner role of the main account's new organization on its owner (no change; a second
  // member would come only through mail).
  'adminSetOrganizationMemberRole 200': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, ORG_ID_EXAMPLE, (await newOrg()).id);
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
    jsonBody(t, { role: 'owner' });
  },
  'adminSetOrganizationMemberRole 400': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, { role: 'boss' });
  },
  // The spec's example organization does not exist.
  'adminSetOrganizationMemberRole 404': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, { role: 'member' });
  },
  // The administrator demotes the only owner: last-owner.
  'adminSetOrganizationMemberRole 409': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, ORG_ID_EXAMPLE, (await newOrg()).id);
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
    jsonBody(t, { role: 'admin' });
  },
  'adminSetOrganizationMemberRole 415': async (t) => {
    bearer(t, await adminToken());
    textPlain(t);
  },
};

/**
 * How each transaction is made to produce its documented status, keyed "operationId status". Every transaction
 * that is not skipped needs an entry here or a hook derived from the spec (DERIVED, below): a response added to the
 * spec without one fails, instead of passing or failing by chance on the spec's example request.
 */
const BEFORE = {
  'getHealth 200': () => {},
  'getReadiness 200': () => {},
  'getJwks 200': () => {},

  'register 202': (t) => {
    state.pendingEmail = freshEmail('register');
    state.pendingPassword = strongPassword();
    jsonBody(t, { email: state.pendingEmail, password: state.pendingPassword, name: 'Contract Tester' });
  },
  'register 400': (t) => jsonBody(t, { email: 'not-an-email' }),
  'register 415': (t) => textPlain(t),
  'register 422': (t) => jsonBody(t, { email: freshEmail('weak'), password: 'password123' }),

  // The token comes from the mail of the register 202 transaction (or of a new registration if that did not run).
  'verifyEmail 200': async (t) => {
    if (!state.pendingEmail) {
      state.pendingEmail = freshEmail('verify');
      state.pendingPassword = strongPassword();
      await api('POST', '/v1/auth/register', { body: { email: state.pendingEmail, password: state.pendingPassword }, expect: 202 });
    }
    jsonBody(t, { token: await verificationToken(state.pendingEmail), password: state.pendingPassword });
  },
  'verifyEmail 400': (t) => jsonBody(t, { token: `unknown-${random()}`, password: strongPassword() }),
  // A registration of its own, confirmed with a password that is not the one it was made with: the link survives.
  'verifyEmail 403': async (t) => {
    const email = freshEmail('mismatch');
    await api('POST', '/v1/auth/register', { body: { email, password: strongPassword() }, expect: 202 });
    jsonBody(t, { token: await verificationToken(email), password: strongPassword() });
  },
  'verifyEmail 415': (t) => textPlain(t),

  'resendVerification 202': (t) => jsonBody(t, { email: freshEmail('resend') }),
  'resendVerification 400': (t) => jsonBody(t, { email: 'not-an-email' }),
  'resendVerification 415': (t) => textPlain(t),

  // Cookie delivery (the default), so the documented Set-Cookie header is there.
  'login 200': (t) => jsonBody(t, { email: state.email, password: state.password }),
  'login 400': (t) => jsonBody(t, { email: 'not-an-email', password: 'irrelevant' }),
  'login 401': (t) => jsonBody(t, { email: state.email, password: `${state.password}-wrong` }),
  'login 415': (t) => textPlain(t),
  // A throw-away account that an administrator has locked: the right password gets 403 account-disabled.
  'login 403': async (t) => {
    const account = await throwAwayAccount('locked');
    const { json } = await api('POST', '/v1/auth/login', { body: { ...account, refreshTokenDelivery: 'body' }, expect: 200 });
    await api('PATCH', `/v1/admin/users/${json.user.id}`, { token: await adminToken(), body: { locked: true }, expect: 200 });
    jsonBody(t, account);
  },

  // A sign-in of the TOTP account finished with one of its recovery codes (a TOTP code works once per 30 s).
  'verifyMfa 200': async (t) => {
    const account = await totpAccount();
    const { json: challenge } = await api('POST', '/v1/auth/login', {
      body: { email: account.email, password: account.password },
      expect: 200,
    });
    jsonBody(t, { challengeId: challenge.challengeId, code: account.recoveryCodes.shift(), method: 'recovery-code' });
  },
  'verifyMfa 400': (t) => jsonBody(t, { challengeId: 'not-a-uuid', code: '123456' }),
  'verifyMfa 401': (t) => jsonBody(t, { challengeId: randomUUID(), code: '123456' }),
  'verifyMfa 415': (t) => textPlain(t),

  'listProviders 200': () => {},
  // The provider of the server we start does not answer, so this redirects to the app with an error: still a 302.
  'startOAuth 302': (t) => {
    pathParameter(t, PROVIDER_EXAMPLE, context.provider);
    // The browser-binding cookie comes only with a redirect to the provider; this redirect to the app has none.
    delete t.expected.headers['Set-Cookie'];
  },
  'startOAuth 400': (t) => requestTarget(t, `/v1/auth/oauth/${context.provider ?? 'google'}/authorize?intent=bogus`),
  'startOAuth 404': (t) => pathParameter(t, PROVIDER_EXAMPLE, 'no-such-provider'),
  // A callback without state: redirects to the app with error=invalid-state.
  'finishOAuth 302': (t) => requestTarget(t, `/v1/auth/oauth/${context.provider}/callback?error=access_denied`),
  'finishOAuth 400': (t) => requestTarget(t, `/v1/auth/oauth/${context.provider ?? 'google'}/callback?code=${'x'.repeat(2049)}`),
  'finishOAuth 404': (t) => requestTarget(t, '/v1/auth/oauth/no-such-provider/callback?code=x&state=y'),

  // The main session's refresh token as the browser cookie, so the new one comes back in the documented Set-Cookie.
  'refreshTokens 200': (t) => {
    setHeader(t, 'Cookie', `${REFRESH_COOKIE}=${state.refreshToken}`);
    jsonBody(t, {});
  },
  'refreshTokens 400': (t) => jsonBody(t, { refreshToken: '' }),
  'refreshTokens 401': (t) => jsonBody(t, { refreshToken: `unknown-${random()}` }),
  'refreshTokens 415': (t) => textPlain(t),
  // A web page of a foreign origin: refused before the token is looked at.
  'refreshTokens 403': (t) => {
    setHeader(t, 'Origin', 'https://evil.example');
    jsonBody(t, { refreshToken: `unknown-${random()}` });
  },

  // A session of its own, so the main session stays valid.
  'logout 204': async (t) => {
    const session = await signIn();
    bearer(t, session.accessToken);
    jsonBody(t, { refreshToken: session.refreshToken });
  },
  'logout 400': (t) => {
    noAuthorization(t);
    jsonBody(t, { refreshToken: '' });
  },
  'logout 401': (t) => {
    noAuthorization(t);
    jsonBody(t, { refreshToken: `unknown-${random()}` });
  },
  'logout 415': (t) => {
    noAuthorization(t);
    textPlain(t);
  },
  'logout 403': (t) => {
    noAuthorization(t);
    setHeader(t, 'Origin', 'https://evil.example');
    jsonBody(t, { refreshToken: `unknown-${random()}` });
  },

  // Ends every session of the main account, the main session included: it signs in again afterwards (AFTER).
  'logoutAll 204': async (t) => {
    const session = await signIn();
    bearer(t, session.accessToken);
  },

  // Passwordless sign-in: the link of a throw-away account's sign-in mail (cookie delivery, for the Set-Cookie).
  'requestEmailSignIn 202': (t) => jsonBody(t, { email: freshEmail('email-sign-in') }),
  'requestEmailSignIn 400': (t) => jsonBody(t, { email: 'not-an-email' }),
  'requestEmailSignIn 415': (t) => textPlain(t),
  'finishEmailSignIn 200': async (t) => {
    const account = await throwAwayAccount('email-sign-in');
    await api('POST', '/v1/auth/email-sign-in', { body: { email: account.email }, expect: 202 });
    jsonBody(t, { token: await mailedToken(account.email, /Sign in to your account/) });
  },
  'finishEmailSignIn 400': (t) => jsonBody(t, { token: '' }),
  'finishEmailSignIn 401': (t) => jsonBody(t, { token: `unknown-${random()}` }),
  // A throw-away account that an administrator has locked: the right code gets 403 account-disabled.
  'finishEmailSignIn 403': async (t) => {
    const account = await throwAwayAccount('email-sign-in-locked');
    const { json } = await api('POST', '/v1/auth/login', { body: { ...account, refreshTokenDelivery: 'body' }, expect: 200 });
    await api('PATCH', `/v1/admin/users/${json.user.id}`, { token: await adminToken(), body: { locked: true }, expect: 200 });
    await api('POST', '/v1/auth/email-sign-in', { body: { email: account.email }, expect: 202 });
    jsonBody(t, { token: await mailedToken(account.email, /Sign in to your account/) });
  },
  'finishEmailSignIn 415': (t) => textPlain(t),

  'forgotPassword 202': (t) => jsonBody(t, { email: freshEmail('forgot') }),
  'forgotPassword 400': (t) => jsonBody(t, { email: 'not-an-email' }),
  'forgotPassword 415': (t) => textPlain(t),

  // A throw-away account: a reset ends every session of the account it resets.
  'resetPassword 204': async (t) => {
    const account = await throwAwayAccount('reset');
    await api('POST', '/v1/auth/password/forgot', { body: { email: account.email }, expect: 202 });
    jsonBody(t, { token: await mailedToken(account.email, /reset/i), password: strongPassword() });
  },
  'resetPassword 400': (t) => jsonBody(t, { token: `unknown-${random()}`, password: strongPassword() }),
  'resetPassword 415': (t) => textPlain(t),
  'resetPassword 422': (t) => jsonBody(t, { token: `unknown-${random()}`, password: 'password123' }),

  // Changes the main account's password and, afterwards (AFTER), changes it back: a QA account keeps its password.
  'changePassword 204': (t) => {
    state.changedPassword = strongPassword();
    bearer(t);
    jsonBody(t, { currentPassword: state.password, newPassword: state.changedPassword });
  },
  'changePassword 400': (t) => {
    bearer(t);
    jsonBody(t, {});
  },
  'changePassword 401': (t) => {
    noAuthorization(t);
    jsonBody(t, { currentPassword: state.password, newPassword: strongPassword() });
  },
  // No current password: refused before any check, so no step-up 403 counts toward the main account's lockout.
  'changePassword 403': (t) => {
    bearer(t);
    jsonBody(t, { newPassword: strongPassword() });
  },
  'changePassword 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  'changePassword 422': (t) => {
    bearer(t);
    jsonBody(t, { currentPassword: state.password, newPassword: 'password123' });
  },

  'getMe 200': (t) => bearer(t),

  // The main account's own data: its sessions, sign-ins and audit events are there by now.
  'exportMyData 200': (t) => bearer(t),

  'updateMe 200': (t) => {
    bearer(t);
    jsonBody(t, { name: 'Contract Tester' });
  },
  'updateMe 400': (t) => {
    bearer(t);
    jsonBody(t, { name: '' });
  },
  'updateMe 401': (t) => {
    noAuthorization(t);
    jsonBody(t, { name: 'Contract Tester' });
  },
  'updateMe 415': (t) => {
    bearer(t);
    textPlain(t);
  },

  'deleteMe 204': async (t) => {
    const account = await throwAwayAccount('delete');
    bearer(t, (await signIn(account)).accessToken);
    jsonBody(t, { password: account.password });
  },
  'deleteMe 400': (t) => {
    bearer(t);
    jsonBody(t, { password: '' });
  },
  'deleteMe 401': (t) => {
    noAuthorization(t);
    jsonBody(t, { password: state.password });
  },
  'deleteMe 403': (t) => {
    bearer(t);
    jsonBody(t, {});
  },
  // The run's administrator is the server's only one: it may not delete itself.
  'deleteMe 409': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, { password: context.admin.password });
  },
  'deleteMe 415': (t) => {
    bearer(t);
    textPlain(t);
  },

  'listMyLoginHistory 200': (t) => {
    bearer(t);
    requestTarget(t, '/v1/me/login-history?limit=5');
  },
  'listMyLoginHistory 400': (t) => {
    bearer(t);
    requestTarget(t, '/v1/me/login-history?limit=0');
  },

  'listMyIdentities 200': (t) => bearer(t),
  'unlinkIdentity 400': (t) => {
    bearer(t);
    pathParameter(t, PROVIDER_EXAMPLE, 'NOT_A_NAME');
  },

  // A link ticket for the configured provider (the provider itself is not contacted).
  'startIdentityLink 200': (t) => {
    bearer(t);
    pathParameter(t, PROVIDER_EXAMPLE, context.provider);
    jsonBody(t, { password: state.password });
  },
  'startIdentityLink 400': (t) => {
    bearer(t);
    pathParameter(t, PROVIDER_EXAMPLE, 'NOT_A_NAME');
    jsonBody(t, { password: state.password });
  },
  'startIdentityLink 403': (t) => {
    bearer(t);
    pathParameter(t, PROVIDER_EXAMPLE, context.provider ?? 'google');
    jsonBody(t, {});
  },
  'startIdentityLink 404': (t) => {
    bearer(t);
    pathParameter(t, PROVIDER_EXAMPLE, 'no-such-provider');
    jsonBody(t, { password: state.password });
  },
  'startIdentityLink 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  // The main account has no provider identity.
  'unlinkIdentity 404': (t) => bearer(t),

  // Passkeys. The ceremonies are answered by the software authenticator of test/helpers.
  'startPasskeyRegistration 200': (t) => {
    bearer(t);
    jsonBody(t, { password: state.password });
  },
  'startPasskeyRegistration 400': (t) => {
    bearer(t);
    jsonBody(t, { password: '' });
  },
  // No proof at all: refused before any check, so nothing counts toward the main account's lockout.
  'startPasskeyRegistration 403': (t) => {
    bearer(t);
    jsonBody(t, {});
  },
  'startPasskeyRegistration 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  'listMyPasskeys 200': (t) => bearer(t),
  // A passkey for the main account (it keeps its password, so its sign-ins are unchanged).
  'finishPasskeyRegistration 201': async (t) => {
    bearer(t);
    const { json: started } = await api('POST', '/v1/me/passkeys/options', { token: state.accessToken, body: { password: state.password }, expect: 200 });
    const made = new SoftwareAuthenticator(context.webauthnOrigin).register(started.options);
    jsonBody(t, { challengeId: started.challengeId, credential: made.json, name: 'Contract key' });
  },
  // A challenge that was never handed out: passkey-challenge-invalid.
  'finishPasskeyRegistration 400': (t) => {
    bearer(t);
    jsonBody(t, { challengeId: randomUUID(), credential: shapedRegistration() });
  },
  // A well-formed body without a token (the body is validated before the token is asked for).
  'finishPasskeyRegistration 401': (t) => {
    noAuthorization(t);
    jsonBody(t, { challengeId: randomUUID(), credential: shapedRegistration() });
  },
  // The shared passkey account's credential, registered again: passkey-already-registered.
  'finishPasskeyRegistration 409': async (t) => {
    const account = await passkeyAccount();
    bearer(t, account.accessToken);
    const { json: started } = await api('POST', '/v1/me/passkeys/options', { token: account.accessToken, body: { password: account.password }, expect: 200 });
    const again = account.authenticator.register(started.options, {}, account.credential);
    jsonBody(t, { challengeId: started.challengeId, credential: again.json });
  },
  'finishPasskeyRegistration 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  'renamePasskey 200': async (t) => {
    const account = await passkeyAccount();
    bearer(t, account.accessToken);
    pathParameter(t, PASSKEY_ID_EXAMPLE, account.passkey.id);
    jsonBody(t, { name: 'Renamed by contract' });
  },
  'renamePasskey 400': (t) => {
    bearer(t);
    jsonBody(t, { name: '' });
  },
  // The spec's example id is no passkey of the main account.
  'renamePasskey 404': (t) => {
    bearer(t);
    jsonBody(t, { name: 'Nobody' });
  },
  'renamePasskey 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  // A passkey made for this transaction (the account keeps its password).
  'deletePasskey 204': async (t) => {
    const account = await passkeyAccount();
    const { passkey } = await registerPasskey(account, account.accessToken);
    bearer(t, account.accessToken);
    pathParameter(t, PASSKEY_ID_EXAMPLE, passkey.id);
  },
  'deletePasskey 400': (t) => {
    bearer(t);
    pathParameter(t, PASSKEY_ID_EXAMPLE, 'not-a-uuid');
  },
  'deletePasskey 404': (t) => bearer(t),

  'startPasskeySignIn 200': (t) => jsonBody(t, {}),
  'startPasskeySignIn 400': (t) => jsonBody(t, { email: 'not asked for' }),
  'startPasskeySignIn 415': (t) => textPlain(t),
  // Cookie delivery (the default), so the documented Set-Cookie header is there.
  'finishPasskeySignIn 200': async (t) => {
    const account = await passkeyAccount();
    const start = await passkeySignInStart();
    jsonBody(t, { challengeId: start.challengeId, credential: account.authenticator.authenticate(start.options) });
  },
  'finishPasskeySignIn 400': (t) => jsonBody(t, { challengeId: 'not-a-uuid', credential: shapedAuthentication() }),
  // A credential the server has never seen.
  'finishPasskeySignIn 401': async (t) => {
    const stranger = new SoftwareAuthenticator(context.webauthnOrigin || 'https://stranger.example');
    stranger.register({ challenge: 'AAAA', rp: { id: 'stranger.example', name: 'x' }, user: { id: 'AAAA', name: 'x', displayName: 'x' }, pubKeyCredParams: [{ alg: -7 }] });
    const start = await passkeySignInStart();
    jsonBody(t, { challengeId: start.challengeId, credential: stranger.authenticate(start.options) });
  },
  // A throw-away account with a passkey that an administrator has locked: the right passkey gets 403 account-disabled.
  'finishPasskeySignIn 403': async (t) => {
    const account = await throwAwayAccount('passkey-locked');
    const session = await signIn(account);
    const { authenticator } = await registerPasskey(account, session.accessToken);
    const { json: me } = await api('GET', '/v1/me', { token: session.accessToken, expect: 200 });
    await api('PATCH', `/v1/admin/users/${me.id}`, { token: await adminToken(), body: { locked: true }, expect: 200 });
    const start = await passkeySignInStart();
    jsonBody(t, { challengeId: start.challengeId, credential: authenticator.authenticate(start.options) });
  },
  'finishPasskeySignIn 415': (t) => textPlain(t),

  'getMfaStatus 200': (t) => bearer(t),

  // A pending enrolment of the main account: sign-in does not ask for it until it is confirmed.
  'enrollTotp 200': (t) => {
    bearer(t);
    jsonBody(t, { password: state.password });
  },
  'enrollTotp 400': (t) => {
    bearer(t);
    jsonBody(t, { password: '' });
  },
  'enrollTotp 403': (t) => bearer(t),
  'enrollTotp 409': async (t) => bearer(t, (await totpAccount()).accessToken),
  'enrollTotp 415': (t) => {
    bearer(t);
    textPlain(t);
  },

  // The main account has no authenticator app on: turning it off is a no-op that still needs the password.
  'disableTotp 204': (t) => {
    bearer(t);
    jsonBody(t, { password: state.password });
  },
  'disableTotp 400': (t) => {
    bearer(t);
    jsonBody(t, { password: '' });
  },
  'disableTotp 401': (t) => {
    noAuthorization(t);
    jsonBody(t, { password: state.password });
  },
  'disableTotp 403': (t) => {
    bearer(t);
    jsonBody(t, {});
  },
  'disableTotp 415': (t) => {
    bearer(t);
    textPlain(t);
  },

  // Turns TOTP on for the main account; AFTER turns it off again.
  'confirmTotp 200': async (t) => {
    const { json } = await api('POST', '/v1/me/mfa/totp', { token: state.accessToken, body: { password: state.password }, expect: 200 });
    bearer(t);
    jsonBody(t, { code: await totpCode({ secret: json.secret }) });
  },
  'confirmTotp 400': (t) => {
    bearer(t);
    jsonBody(t, { code: 'abcdef' });
  },
  'confirmTotp 401': (t) => {
    noAuthorization(t);
    jsonBody(t, { code: '123456' });
  },
  // Before confirmTotp 200 in spec order? No: statuses run in order, so this runs after AFTER turned TOTP off and
  // dropped the secret: there is no enrolment to confirm.
  'confirmTotp 409': (t) => {
    bearer(t);
    jsonBody(t, { code: '123456' });
  },
  'confirmTotp 415': (t) => {
    bearer(t);
    textPlain(t);
  },
  'confirmTotp 422': async (t) => {
    await api('POST', '/v1/me/mfa/totp', { token: state.accessToken, body: { password: state.password }, expect: 200 });
    bearer(t);
    jsonBody(t, { code: '000000' });
  },

  // Turns email codes on for the main account; AFTER turns them off again.
  'enableEmailOtp 200': (t) => {
    bearer(t);
    jsonBody(t, { password: state.password });
  },
  'enableEmailOtp 400': (t) => {
    bearer(t);
    jsonBody(t, { code: '1' });
  },
  // After AFTER of enableEmailOtp 200 turned them off again: turning them on needs a proof.
  'enableEmailOtp 403': (t) => bearer(t),
  'enableEmailOtp 415': (t) => {
    bearer(t);
    textPlain(t);
  },

  'disableEmailOtp 204': (t) => {
    bearer(t);
    jsonBody(t, { password: state.password });
  },
  'disableEmailOtp 400': (t) => {
    bearer(t);
    jsonBody(t, { password: '' });
  },
  'disableEmailOtp 401': (t) => {
    noAuthorization(t);
    jsonBody(t, { password: state.password });
  },
  'disableEmailOtp 403': (t) => {
    bearer(t);
    jsonBody(t, {});
  },
  'disableEmailOtp 415': (t) => {
    bearer(t);
    textPlain(t);
  },

  'regenerateRecoveryCodes 200': async (t) => {
    const account = await totpAccount();
    bearer(t, account.accessToken);
    jsonBody(t, { password: account.password });
  },
  'regenerateRecoveryCodes 400': (t) => {
    bearer(t);
    jsonBody(t, { password: '' });
  },
  'regenerateRecoveryCodes 401': (t) => {
    noAuthorization(t);
    jsonBody(t, { password: state.password });
  },
  'regenerateRecoveryCodes 403': async (t) => {
    bearer(t, (await totpAccount()).accessToken);
    jsonBody(t, {});
  },
  // The main account has no authenticator app, so it has no recovery codes to replace.
  'regenerateRecoveryCodes 409': (t) => {
    bearer(t);
    jsonBody(t, { password: state.password });
  },
  'regenerateRecoveryCodes 415': (t) => {
    bearer(t);
    textPlain(t);
  },

  'listMySessions 200': (t) => bearer(t),

  // Another session of the main account, ended from the main one.
  'revokeMySession 204': async (t) => {
    const other = await signIn();
    bearer(t);
    pathParameter(t, SESSION_ID_EXAMPLE, other.sessionId);
  },
  'revokeMySession 400': (t) => {
    bearer(t);
    pathParameter(t, SESSION_ID_EXAMPLE, 'not-a-uuid');
  },
  // The example id names no session of this account.
  'revokeMySession 404': (t) => bearer(t),
  // Administration. USER_ID_EXAMPLE names no user: it gives the 404s.
  'adminListUsers 200': async (t) => bearer(t, await adminToken()),
  'adminListUsers 400': async (t) => {
    bearer(t, await adminToken());
    requestTarget(t, '/v1/admin/users?limit=0');
  },

  'adminGetUser 200': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
  },
  'adminGetUser 400': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, 'not-a-uuid');
  },
  'adminGetUser 404': async (t) => bearer(t, await adminToken()),

  'adminUpdateUser 200': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
    jsonBody(t, { name: 'Contract Tester' });
  },
  'adminUpdateUser 400': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, { role: 'root' });
  },
  'adminUpdateUser 401': (t) => {
    noAuthorization(t);
    jsonBody(t, { name: 'Contract Tester' });
  },
  'adminUpdateUser 403': (t) => {
    bearer(t);
    jsonBody(t, { name: 'Contract Tester' });
  },
  'adminUpdateUser 404': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, { name: 'Contract Tester' });
  },
  // The run's administrator is the server's only one: taking its role away is refused.
  'adminUpdateUser 409': async (t) => {
    const token = await adminToken();
    const { json } = await api('GET', '/v1/me', { token, expect: 200 });
    bearer(t, token);
    pathParameter(t, USER_ID_EXAMPLE, json.id);
    jsonBody(t, { role: 'user' });
  },
  'adminUpdateUser 415': async (t) => {
    bearer(t, await adminToken());
    textPlain(t);
  },

  'adminDeleteUser 204': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, (await victimAccount()).id);
  },
  'adminDeleteUser 400': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, 'not-a-uuid');
  },
  'adminDeleteUser 404': async (t) => bearer(t, await adminToken()),
  'adminDeleteUser 409': async (t) => {
    const token = await adminToken();
    const { json } = await api('GET', '/v1/me', { token, expect: 200 });
    bearer(t, token);
    pathParameter(t, USER_ID_EXAMPLE, json.id);
  },

  // The victim deleted by adminDeleteUser 204 comes back.
  'adminRestoreUser 200': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, (await victimAccount()).id);
  },
  'adminRestoreUser 400': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, 'not-a-uuid');
  },
  'adminRestoreUser 404': async (t) => bearer(t, await adminToken()),
  'adminRestoreUser 409': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
  },

  'adminListUserSessions 200': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
  },
  'adminListUserSessions 400': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, 'not-a-uuid');
  },
  'adminListUserSessions 404': async (t) => bearer(t, await adminToken()),

  // Signs the main account out everywhere; AFTER signs it in again.
  'adminRevokeUserSessions 204': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
  },
  'adminRevokeUserSessions 400': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, 'not-a-uuid');
  },
  'adminRevokeUserSessions 404': async (t) => bearer(t, await adminToken()),

  // The main account has no second factor on: a no-op reset, still answered 204 (and mailed).
  'adminResetUserMfa 204': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, await mainUserId());
  },
  'adminResetUserMfa 400': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, USER_ID_EXAMPLE, 'not-a-uuid');
  },
  'adminResetUserMfa 404': async (t) => bearer(t, await adminToken()),

  'adminListLoginAttempts 200': async (t) => {
    bearer(t, await adminToken());
    requestTarget(t, '/v1/admin/login-attempts?limit=5');
  },
  'adminListLoginAttempts 400': async (t) => {
    bearer(t, await adminToken());
    requestTarget(t, '/v1/admin/login-attempts?outcome=maybe');
  },

  'adminListBlockedIps 200': async (t) => bearer(t, await adminToken()),
  'adminListBlockedIps 400': async (t) => {
    bearer(t, await adminToken());
    requestTarget(t, '/v1/admin/blocked-ips?all=perhaps');
  },

  // Blocks an IP of its own first: the server we start trusts X-Forwarded-For and blocks after 20 failures.
  'adminUnblockIp 204': async (t) => {
    for (let i = 0; i < 20; i += 1) {
      await fetch(new URL('v1/auth/login', `${context.baseUrl}/`), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': BLOCKED_IP },
        body: JSON.stringify({ email: freshEmail('spray'), password: 'wrong password' }),
      });
    }
    bearer(t, await adminToken());
    pathParameter(t, IP_EXAMPLE, BLOCKED_IP);
  },
  'adminUnblockIp 400': async (t) => {
    bearer(t, await adminToken());
    pathParameter(t, IP_EXAMPLE, 'x'.repeat(46));
  },
  'adminUnblockIp 404': async (t) => bearer(t, await adminToken()),

  'adminListAuditEvents 200': async (t) => {
    bearer(t, await adminToken());
    requestTarget(t, '/v1/admin/audit-events?limit=5');
  },
  'adminListAuditEvents 400': async (t) => {
    bearer(t, await adminToken());
    requestTarget(t, '/v1/admin/audit-events?from=yesterday');
  },

  'adminRunCleanup 200': async (t) => bearer(t, await adminToken()),

  'adminRotateSigningKey 200': async (t) => bearer(t, await adminToken()),

  // A fresh email and a bcrypt hash as another app makes them (bcryptjs, cost 4), plus a row that is invalid: both
  // kinds of result in one 200.
  'adminImportUsers 200': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, {
      users: [
        { email: freshEmail('import'), name: 'Imported', passwordHash: require('bcryptjs').hashSync(strongPassword(), 4), createdAt: '2024-05-01 09:30:00' },
        { email: freshEmail('import-bad'), passwordHash: '$2b$10$not-a-hash' },
      ],
    });
  },
  'adminImportUsers 400': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, { users: [] });
  },
  // The operation takes up to 1 MiB (not the 64 KiB of the others): the derived 80 KiB body would be accepted.
  'adminImportUsers 413': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, { users: [{ email: 'padding@example.com', name: 'x'.repeat(1100 * 1024) }] });
  },
  'adminImportUsers 415': async (t) => {
    bearer(t, await adminToken());
    textPlain(t);
  },
  ...orgHooks,

  // Webhooks: the server this run starts allows private networks (WEBHOOK_ALLOW_PRIVATE_NETWORKS), so an endpoint
  // on 127.0.0.1:9 (nothing listens there: its deliveries fail and wait) can be saved.
  'adminListWebhooks 200': async (t) => bearer(t, await adminToken()),
  'adminCreateWebhook 201': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, { url: 'http://127.0.0.1:9/contract', events: ['*'], description: 'contract' });
  },
  'adminCreateWebhook 400': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, { url: 'http://127.0.0.1:9/contract', events: ['user.exploded'] });
  },
  'adminCreateWebhook 415': async (t) => {
    bearer(t, await adminToken());
    textPlain(t);
  },
  // Refused whatever WEBHOOK_ALLOW_PRIVATE_NETWORKS says: not an http(s) URL.
  'adminCreateWebhook 422': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, { url: 'ftp://example.com/hook', events: ['*'] });
  },
  'adminGetWebhook 200': async (t) => webhookTransaction(t),
  'adminGetWebhook 400': async (t) => webhookTransaction(t, 'not-a-uuid'),
  'adminGetWebhook 404': async (t) => bearer(t, await adminToken()),
  'adminUpdateWebhook 200': async (t) => {
    await webhookTransaction(t);
    jsonBody(t, { description: 'changed by contract', enabled: true });
  },
  'adminUpdateWebhook 400': async (t) => {
    await webhookTransaction(t);
    jsonBody(t, { enabled: 'yes' });
  },
  'adminUpdateWebhook 404': async (t) => {
    bearer(t, await adminToken());
    jsonBody(t, { enabled: false });
  },
  'adminUpdateWebhook 415': async (t) => {
    await webhookTransaction(t);
    textPlain(t);
  },
  'adminUpdateWebhook 422': async (t) => {
    await webhookTransaction(t);
    jsonBody(t, { url: 'ftp://example.com/hook' });
  },
  'adminDeleteWebhook 204': async (t) => webhookTransaction(t, (await createWebhook()).id),
  'adminDeleteWebhook 400': async (t) => webhookTransaction(t, 'not-a-uuid'),
  'adminDeleteWebhook 404': async (t) => bearer(t, await adminToken()),
  'adminRotateWebhookSecret 200': async (t) => webhookTransaction(t),
  'adminRotateWebhookSecret 400': async (t) => webhookTransaction(t, 'not-a-uuid'),
  'adminRotateWebhookSecret 404': async (t) => bearer(t, await adminToken()),
  'adminListWebhookDeliveries 200': async (t) => webhookTransaction(t),
  'adminListWebhookDeliveries 400': async (t) => {
    await webhookTransaction(t);
    requestTarget(t, `${t.fullPath.split('?')[0]}?status=lost`);
  },
  'adminListWebhookDeliveries 404': async (t) => bearer(t, await adminToken()),
  'adminRedeliverWebhook 202': async (t) => {
    const webhook = await webhookTransaction(t);
    const { json: delivery } = await api('POST', `/v1/admin/webhooks/${webhook.id}/ping`, { token: await adminToken(), expect: 202 });
    pathParameter(t, DELIVERY_ID_EXAMPLE, delivery.id);
  },
  'adminRedeliverWebhook 400': async (t) => {
    await webhookTransaction(t);
    pathParameter(t, DELIVERY_ID_EXAMPLE, 'not-a-uuid');
  },
  'adminRedeliverWebhook 404': async (t) => webhookTransaction(t),
  'adminPingWebhook 202': async (t) => webhookTransaction(t),
  'adminPingWebhook 400': async (t) => webhookTransaction(t, 'not-a-uuid'),
  'adminPingWebhook 404': async (t) => bearer(t, await adminToken()),
};

/** A webhook endpoint of this run (made once), or `id`, in the transaction's path, with the admin's token. */
async function webhookTransaction(t, id) {
  bearer(t, await adminToken());
  const webhook = id ? { id } : (state.webhook ??= await createWebhook());
  pathParameter(t, WEBHOOK_ID_EXAMPLE, webhook.id);
  return webhook;
}

async function createWebhook() {
  const { json } = await api('POST', '/v1/admin/webhooks', {
    token: await adminToken(),
    body: { url: 'http://127.0.0.1:9/contract', events: ['webhook.ping'] },
    expect: 201,
  });
  return json;
}

/**
 * The hooks that follow from the spec, for transactions BEFORE has no entry for (an entry there wins, for an
 * operation that needs a body or a path parameter as well):
 *   - 401 of an operation whose every security requirement is bearerAuth: the request without Authorization;
 *   - 403 of an operation of the Administration tag: the main account's bearer token (a plain user).
 */
const DERIVED = new Map();

function deriveHooks(spec) {
  for (const item of Object.values(spec.paths || {})) {
    for (const operation of Object.values(item)) {
      if (!operation?.operationId || !operation.responses) continue;
      const security = operation.security ?? spec.security ?? [];
      const bearerOnly = security.length > 0 && security.every((requirement) => 'bearerAuth' in requirement);
      if (bearerOnly && operation.responses['401']) DERIVED.set(`${operation.operationId} 401`, (t) => noAuthorization(t));
      if ((operation.tags || []).includes('Administration') && operation.responses['403']) {
        DERIVED.set(`${operation.operationId} 403`, (t) => bearer(t));
      }
      // A JSON body over the server's 64 KiB limit: refused while it is read, before anything else looks at it.
      if (operation.requestBody && operation.responses['413']) {
        DERIVED.set(`${operation.operationId} 413`, (t) => {
          jsonBody(t, { padding: 'x'.repeat(80 * 1024) });
          if (security.some((requirement) => 'bearerAuth' in requirement)) bearer(t);
        });
      }
    }
  }
}

/** What a transaction leaves for the ones after it. */
const AFTER = {
  'refreshTokens 200': (t) => {
    if (t.real?.statusCode !== 200) return;
    const rotated = refreshCookieOf(t.real);
    const body = realJson(t);
    if (rotated) state.refreshToken = rotated;
    if (body?.accessToken) state.accessToken = body.accessToken;
  },
  'logoutAll 204': async () => {
    await signInMainSession();
  },
  // Leave the main account without second factors, so that its password sign-in keeps giving tokens.
  'confirmTotp 200': async () => {
    await api('DELETE', '/v1/me/mfa/totp', { token: state.accessToken, body: { password: state.password }, expect: 204 });
  },
  'enableEmailOtp 200': async () => {
    await api('DELETE', '/v1/me/mfa/email', { token: state.accessToken, body: { password: state.password }, expect: 204 });
  },
  'adminRevokeUserSessions 204': async () => {
    await signInMainSession();
  },
  'changePassword 204': async (t) => {
    if (t.real?.statusCode !== 204) return;
    await api('POST', '/v1/auth/password/change', {
      token: state.accessToken,
      body: { currentPassword: state.changedPassword, newPassword: state.password },
      expect: 204,
    });
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Wiring.

/** Runs an async function as a dredd hook: `done` is always called; a failure fails the transaction. */
const asHook = (fn) =>
  function hook(transaction, done) {
    Promise.resolve()
      .then(() => fn(transaction))
      .then(
        () => done(),
        (error) => {
          const reason = `hook error: ${error?.message || error}${error?.cause ? ` (${error.cause.code || error.cause.message || error.cause})` : ""}`;
          if (Array.isArray(transaction)) {
            console.error(`[contract hooks] ${reason}`);
          } else {
            transaction.fail = reason;
          }
          done();
        },
      );
  };

function describe(transaction) {
  const operationId = operations.get(`${transaction.request.method.toUpperCase()} ${transaction.origin.resourceName}`);
  const status = String(transaction.expected.statusCode);
  const mediaType = transaction.origin.exampleName.split(' > ')[1] || null;
  return { operationId, status, mediaType, key: `${operationId} ${status}` };
}

hooks.beforeAll(
  asHook(async () => {
    context = getContext();
    context.hooksRan = true;
    const spec = JSON.parse(readFileSync(context.specPath, 'utf8'));
    deriveHooks(spec);
    for (const response of documentedResponses(spec)) {
      operations.set(`${response.method} ${response.path}`, response.operationId);
      schemas.set(responseKey(response), response.schema);
    }
    skips = activeSkips({
      mailAvailable: Boolean(context.mail),
      providerAvailable: Boolean(context.provider),
      adminAvailable: Boolean(context.admin),
      external: context.external,
    });
    try {
      if (context.mail) {
        state.email = freshEmail('main');
        state.password = strongPassword();
        await registerAndVerify(state.email, state.password);
      } else {
        state.email = context.credentials.email;
        state.password = context.credentials.password;
      }
      await signInMainSession();
    } catch (error) {
      setupError = error;
      throw error;
    }
  }),
);

hooks.beforeEach(
  asHook(async (transaction) => {
    if (!context) throw new Error('the beforeAll hook did not run');
    const { operationId, status, mediaType, key } = describe(transaction);
    if (!operationId) throw new Error(`no operation in the spec for ${transaction.request.method} ${transaction.origin.resourceName}`);

    const skip = findSkip(skips, operationId, status);
    if (skip) {
      transaction.skip = true;
      return;
    }
    if (setupError) throw new Error(`setup (beforeAll) failed: ${setupError.message}`);

    const schema = schemas.get(responseKey({ method: transaction.request.method, path: transaction.origin.resourceName, status, mediaType }));
    if (schema) {
      transaction.expected.bodySchema = toJsonSchema(schema);
      delete transaction.expected.body;
    } else if (!mediaType) {
      transaction.expected.body = ''; // no content documented: the body must be empty
    }

    const shape = BEFORE[key] ?? DERIVED.get(key);
    if (!shape) throw new Error(`no hook shapes "${key}": add an entry to BEFORE in test/contract/hooks.cjs (or to SKIPS in contract.cjs, with a reason)`);
    await shape(transaction);
  }),
);

// The server sends `application/json; charset=utf-8`; dredd compares the media type literally.
hooks.beforeEachValidation((transaction) => {
  const headers = transaction.real?.headers || {};
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() === 'content-type' && typeof headers[name] === 'string') {
      headers[name] = headers[name].replace(/\s*;\s*charset=utf-8\s*$/i, '');
    }
  }
});

hooks.afterEach(
  asHook(async (transaction) => {
    if (transaction.skip || !context) return;
    const { key } = describe(transaction);
    if (AFTER[key]) await AFTER[key](transaction);
  }),
);

/**
 * Leaves the server as it was: every account this run made (all named `contract-<runId>-…@example.com`) is purged.
 * With an administrator, through the administration API (hard delete); without one, each account the run knows the
 * password of deletes itself (soft: the server purges it after its grace period).
 */
hooks.afterAll(
  asHook(async () => {
    try {
      await removeAccountsOfThisRun();
    } catch (error) {
      context.cleanupError = error?.message || String(error);
      throw error;
    }
  }),
);

async function removeAccountsOfThisRun() {
  const prefix = `contract-${runId}-`;
  if (context.admin) {
    const token = await adminToken();
    for (;;) {
      const { json } = await api('GET', `/v1/admin/users?email=${encodeURIComponent(prefix)}&limit=100`, { token, expect: 200 });
      if (!json.items.length) break;
      for (const user of json.items) await api('DELETE', `/v1/admin/users/${user.id}?hard=true`, { token, expect: 204 });
    }
    return;
  }
  if (context.mail && state.email?.startsWith(prefix)) {
    await api('DELETE', '/v1/me', { token: (await signIn()).accessToken, body: { password: state.password }, expect: 204 });
  }
}
