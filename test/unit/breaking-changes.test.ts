import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import YAML from 'yaml';
import { checkBreakingChanges, formatReport, nextVersion, parseApprovals, passes, type Approvals, type Change, type Report } from '../../scripts/breaking-changes.js';

/**
 * The breaking-change check (`npm run check:breaking`) on deliberately changed copies of the spec: each breaking
 * change must be reported and fail the check until approved; additions must not.
 */
describe('breaking-change check (scripts/breaking-changes.ts)', function () {
  // openapi-diff compares request and response bodies as sets (json-schema-diff): about a second per changed body.
  this.timeout(120_000);

  // The current spec on both sides: the cases do not depend on how far it has moved from openapi/baseline.yaml.
  const spec = YAML.parse(readFileSync('openapi/openapi.yaml', 'utf8'));
  const version = String(spec.info.version);
  const noApprovals: Approvals = { baseline: version, approved: [], openEnums: [{ schema: 'ProblemCode', reason: 'open-ended' }] };

  /** A copy of the spec with `edit` applied, and the check's report from the spec to it. */
  async function check(edit: (copy: any) => void, approvals: Approvals = noApprovals): Promise<Report> {
    const copy = structuredClone(spec);
    edit(copy);
    return checkBreakingChanges(spec, copy, approvals);
  }

  /** A component schema of the copy, failing clearly when the spec no longer has it. */
  function schema(copy: any, name: string) {
    const found = copy.components?.schemas?.[name];
    expect(found, `the spec has no schema ${name}; update this test`).to.be.an('object');
    return found;
  }

  const summary = (changes: Change[]) => changes.map((change) => `${change.code} @ ${change.location}`);
  const body = (path: string, method = 'post') => `paths.${path}.${method}.requestBody.content.application/json.schema`;
  const answer = (path: string, status: string, method = 'post', mediaType = 'application/json') =>
    `paths.${path}.${method}.responses.${status}.content.${mediaType}.schema`;

  it('finds nothing between the spec and itself', async () => {
    const report = await check(() => {});
    expect(summary(report.unapproved)).to.deep.equal([]);
    expect(summary(report.nonBreaking)).to.deep.equal([]);
    expect(passes(report)).to.equal(true);
  });

  describe('reports as breaking', () => {
    it('an operation removed', async () => {
      const report = await check((copy) => delete copy.paths['/v1/me/sessions'].get);
      expect(summary(report.unapproved)).to.deep.equal(['method.remove @ paths./v1/me/sessions.get']);
      expect(report.unapproved[0].message).to.equal('GET /v1/me/sessions: the operation is gone');
      expect(passes(report)).to.equal(false);
    });

    it('a path removed', async () => {
      const report = await check((copy) => delete copy.paths['/v1/me/login-history']);
      expect(summary(report.unapproved)).to.deep.equal(['path.remove @ paths./v1/me/login-history']);
    });

    it('an optional request field made required', async () => {
      const report = await check((copy) => schema(copy, 'RegisterRequest').required.push('name'));
      expect(summary(report.unapproved)).to.deep.equal([`request.body.scope.remove @ ${body('/v1/auth/register')}`]);
      // The difference shows what is refused now: a body without `name`.
      expect(report.unapproved[0].details).to.nested.include({ 'properties.name': false });
    });

    it('a request type narrowed (shorter maximum length) everywhere the schema is used', async () => {
      const report = await check((copy) => (schema(copy, 'Password').maxLength = 64));
      expect(summary(report.unapproved)).to.have.members([
        `request.body.scope.remove @ ${body('/v1/auth/register')}`,
        `request.body.scope.remove @ ${body('/v1/auth/password/reset')}`,
        `request.body.scope.remove @ ${body('/v1/auth/password/change')}`,
      ]);
    });

    it('a request field changed to another type', async () => {
      const report = await check((copy) => (schema(copy, 'VerifyMfaRequest').properties.code = { type: 'integer' }));
      expect(summary(report.unapproved)).to.deep.equal([`request.body.scope.remove @ ${body('/v1/auth/mfa/verify')}`]);
    });

    it('an enum value removed from a request', async () => {
      const report = await check((copy) => (schema(copy, 'RefreshTokenDelivery').enum = ['cookie']));
      // Everywhere the shared schema is used: login, both request shapes of finishEmailSignIn, and finishPasskeySignIn.
      expect(summary(report.unapproved)).to.have.members([
        `request.enum.value.remove @ ${body('/v1/auth/login')}.properties.refreshTokenDelivery`,
        `request.enum.value.remove @ ${body('/v1/auth/email-sign-in/verify')}.oneOf.EmailSignInWithToken.properties.refreshTokenDelivery`,
        `request.enum.value.remove @ ${body('/v1/auth/email-sign-in/verify')}.oneOf.EmailSignInWithCode.properties.refreshTokenDelivery`,
        `request.enum.value.remove @ ${body('/v1/auth/passkey/verify')}.properties.refreshTokenDelivery`,
      ]);
      expect(report.unapproved[0].message).to.contain('"body" no longer accepted');
    });

    it('an enum value added to a response, unless the enum is declared open', async () => {
      const role = await check((copy) => schema(copy, 'UserRole').enum.push('owner'));
      // updateMe answers a plain User (getMe's Me wraps it in allOf with the active organization).
      expect(summary(role.unapproved)).to.include(`response.enum.value.add @ ${answer('/v1/me', '200', 'patch')}.properties.role`);
      expect(summary(role.unapproved)).to.include(`response.enum.value.add @ ${answer('/v1/auth/mfa/verify', '200')}.properties.user.properties.role`);

      const problemCode = await check((copy) => schema(copy, 'ProblemCode').enum.push('brand-new-problem'));
      expect(summary(problemCode.unapproved)).to.deep.equal([]);
      const notOpen = await check((copy) => schema(copy, 'ProblemCode').enum.push('brand-new-problem'), { ...noApprovals, openEnums: [] });
      expect(summary(notOpen.unapproved)).to.include(`response.enum.value.add @ ${answer('/v1/auth/login', '401', 'post', 'application/problem+json')}.properties.code`);
    });

    it('a success status changed (the new one is an addition, the old one is gone)', async () => {
      const report = await check((copy) => {
        const responses = copy.paths['/v1/auth/register'].post.responses;
        responses['201'] = responses['202'];
        delete responses['202'];
      });
      expect(summary(report.unapproved)).to.deep.equal(['response.status-code.remove @ paths./v1/auth/register.post.responses.202']);
      expect(summary(report.nonBreaking)).to.deep.equal(['response.status-code.add @ paths./v1/auth/register.post.responses.201']);
    });

    it('a response field made optional, in a plain body and inside the login union', async () => {
      const report = await check((copy) => {
        const tokens = schema(copy, 'TokenResponse');
        tokens.required = tokens.required.filter((name: string) => name !== 'session');
      });
      expect(summary(report.unapproved)).to.have.members([
        `response.body.scope.add @ ${answer('/v1/auth/refresh', '200')}`,
        `response.body.scope.add @ ${answer('/v1/auth/mfa/verify', '200')}`,
        `response.body.scope.add @ ${answer('/v1/auth/passkey/verify', '200')}`,
        `response.body.scope.add @ ${answer('/v1/me/active-organization', '200')}`,
        `response.required.remove @ ${answer('/v1/auth/login', '200')}.oneOf.TokenResponse`,
        `response.required.remove @ ${answer('/v1/auth/email-sign-in/verify', '200')}.oneOf.TokenResponse`,
      ]);
    });

    it('a response field made nullable', async () => {
      const report = await check((copy) => (schema(copy, 'User').properties.emailVerified.nullable = true));
      expect(summary(report.unapproved)).to.include(`response.nullable.add @ ${answer('/v1/me', '200', 'patch')}.properties.emailVerified`);
    });

    it('a change to the error body (application/problem+json)', async () => {
      const report = await check((copy) => {
        const problem = schema(copy, 'Problem');
        problem.required = problem.required.filter((name: string) => name !== 'code');
      });
      expect(summary(report.unapproved)).to.include(`response.body.scope.add @ ${answer('/v1/auth/login', '401', 'post', 'application/problem+json')}`);
    });

    it('a query parameter made required, narrowed or removed', async () => {
      const required = await check((copy) => (copy.components.parameters.Limit.required = true));
      expect(summary(required.unapproved)).to.include('request.parameters.scope.remove @ paths./v1/me/login-history.get.parameters');
      const narrowed = await check((copy) => (copy.components.parameters.Limit.schema.maximum = 50));
      expect(summary(narrowed.unapproved)).to.include('request.parameters.scope.remove @ paths./v1/me/login-history.get.parameters');
      const removed = await check((copy) => {
        const operation = copy.paths['/v1/me/login-history'].get;
        operation.parameters = operation.parameters.filter((parameter: any) => parameter.$ref !== '#/components/parameters/Cursor');
      });
      expect(summary(removed.unapproved)).to.deep.equal(['request.parameters.scope.remove @ paths./v1/me/login-history.get.parameters']);
    });

    it('a request body made required, and anonymous access withdrawn', async () => {
      const report = await check((copy) => {
        copy.paths['/v1/auth/refresh'].post.requestBody.required = true;
        copy.paths['/v1/auth/refresh'].post.security = [{ refreshCookie: [] }];
      });
      expect(summary(report.unapproved)).to.have.members([
        'request.body.required.add @ paths./v1/auth/refresh.post.requestBody.required',
        'security.requirement.remove @ paths./v1/auth/refresh.post.security',
      ]);
    });
  });

  describe('does not report as breaking', () => {
    it('an added optional request field', async () => {
      const report = await check((copy) => (schema(copy, 'RegisterRequest').properties.locale = { type: 'string', maxLength: 35 }));
      expect(summary(report.unapproved)).to.deep.equal([]);
      expect(summary(report.nonBreaking)).to.deep.equal([`request.body.scope.add @ ${body('/v1/auth/register')}`]);
      expect(passes(report)).to.equal(true);
      expect(nextVersion(report)).to.match(/^\d+\.\d+\.0$/).and.not.equal(`${Number(version.split('.')[0]) + 1}.0.0`);
    });

    it('an added operation, an optional query parameter, a renamed path parameter', async () => {
      const report = await check((copy) => {
        copy.paths['/v1/me/avatar'] = {
          get: { operationId: 'getAvatar', responses: { '200': { description: 'The avatar.', content: { 'application/json': { schema: { type: 'object' } } } } } },
        };
        copy.paths['/v1/me/sessions'].get.parameters = [{ name: 'device', in: 'query', required: false, schema: { type: 'string' } }];
        const item = copy.paths['/v1/me/sessions/{sessionId}'];
        delete copy.paths['/v1/me/sessions/{sessionId}'];
        copy.paths['/v1/me/sessions/{id}'] = JSON.parse(JSON.stringify(item).replaceAll('"sessionId"', '"id"'));
      });
      expect(summary(report.unapproved)).to.deep.equal([]);
      expect(summary(report.nonBreaking)).to.have.members(['path.add @ paths./v1/me/avatar', 'request.parameters.scope.add @ paths./v1/me/sessions.get.parameters']);
    });
  });

  describe('approvals', () => {
    // One location only: login's field alone loses `body` (the shared schema is used by finishEmailSignIn too).
    const dropBody = (copy: any) => (schema(copy, 'LoginRequest').properties.refreshTokenDelivery = { type: 'string', enum: ['cookie'] });
    const location = `${body('/v1/auth/login')}.properties.refreshTokenDelivery`;

    it('pass an approved change, list it with its reason, and name approvals that match nothing', async () => {
      const report = await check(dropBody, {
        ...noApprovals,
        approved: [
          { code: 'request.enum.value.remove', location, reason: 'body delivery moves to /v2' },
          { code: 'method.remove', location: 'paths./v1/me.delete', reason: 'no longer true' },
        ],
      });
      expect(passes(report)).to.equal(true);
      expect(report.approved.map(({ approval }) => approval.reason)).to.deep.equal(['body delivery moves to /v2']);
      expect(report.unusedApprovals.map((entry) => entry.location)).to.deep.equal(['paths./v1/me.delete']);
      expect(nextVersion(report)).to.equal(`${Number(version.split('.')[0]) + 1}.0.0`);
    });

    it('match on code and location, with `*` for a shared schema', async () => {
      const wrongCode = await check(dropBody, { ...noApprovals, approved: [{ code: 'request.body.scope.remove', location, reason: 'x' }] });
      expect(passes(wrongCode)).to.equal(false);
      const pattern = await check(dropBody, {
        ...noApprovals,
        approved: [{ code: 'request.enum.value.remove', location: 'paths.*.properties.refreshTokenDelivery', reason: 'body delivery moves to /v2' }],
      });
      expect(passes(pattern)).to.equal(true);
    });

    it('fail without a reason, or when they were written against another baseline', async () => {
      const noReason = await check(dropBody, { ...noApprovals, approved: [{ code: 'request.enum.value.remove', location, reason: ' ' }] });
      expect(passes(noReason)).to.equal(false);
      expect(noReason.problems.join('\n')).to.contain('has no reason');

      const stale = await check(() => {}, { ...noApprovals, baseline: '0.0.1-not-this' });
      expect(passes(stale)).to.equal(false);
      expect(stale.problems.join('\n')).to.contain(`set \`baseline: ${version}\``);
    });

    it('print, for each unapproved change, the entry that approves it', async () => {
      const report = await check(dropBody);
      const text = formatReport(report);
      expect(text).to.contain('1 breaking change(s) not approved');
      expect(text).to.contain(`  - code: request.enum.value.remove\n    location: ${location}\n    reason: <`);
      expect(text).to.contain('✘ Breaking changes found');

      // Pasted (with a reason) into the approvals file, the printed entries approve the changes.
      const pasted = text
        .slice(text.indexOf('  - code:'))
        .split('\n')
        .filter((line) => /^ {2}- code:|^ {4}(location|reason):/.test(line))
        .join('\n')
        .replaceAll('<why clients must accept this, and how they adapt>', 'body delivery moves to /v2');
      const approvals = parseApprovals(YAML.parse(`baseline: ${JSON.stringify(version)}\napproved:\n${pasted}\n`));
      expect(approvals.approved).to.have.length(1);
      expect(passes(await check(dropBody, { ...approvals, openEnums: noApprovals.openEnums }))).to.equal(true);
    });
  });
});
