import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { Sessions } from '../../src/domain/sessions/sessions.js';
import { SessionSchema, type User } from '../../src/db/entities.js';
import { TestDomain } from '../helpers/domain.js';
import { rejection } from '../helpers/assertions.js';

describe('refresh-token rotation and its grace window', function () {
  const GRACE = 10;
  const TTL = 3_600;
  let domain: TestDomain;
  let sessions: Sessions;

  before(async () => {
    domain = await TestDomain.start({ REFRESH_REUSE_GRACE: String(GRACE), REFRESH_TOKEN_TTL: String(TTL) });
    sessions = domain.services.sessions;
  });
  after(() => domain?.close());

  const client = { ip: '198.51.100.7', userAgent: 'unit test' };
  const rotate = (token: string) => sessions.rotate(domain.em(), token);
  const sessionRow = (id: string) => domain.em().findOneOrFail(SessionSchema, { id });

  async function started(user?: User) {
    user ??= await domain.user(`rotation-${randomUUID()}@example.com`);
    const issued = await sessions.start(domain.em(), user, client);
    return { user, sessionId: issued.session.id, token: issued.refreshToken };
  }

  it('exchanges a token for a new one of the same session, and the new one rotates in turn', async () => {
    const { sessionId, token } = await started();
    const first = await rotate(token);
    expect(first.refreshToken).to.be.a('string').and.not.equal(token);
    expect(first.session.id).to.equal(sessionId);
    domain.clock.advance(60);
    const before = domain.clock.now().getTime();
    const second = await rotate(first.refreshToken);
    expect(second.refreshToken).not.to.be.oneOf([token, first.refreshToken]);
    expect((await sessionRow(sessionId)).lastActiveAt.getTime(), 'on the clock').to.be.within(before, domain.clock.now().getTime());
  });

  it('gives the same successor to one replay of a just-rotated token within the grace window', async () => {
    const { sessionId, token } = await started();
    const rotated = await rotate(token);
    domain.clock.advance(GRACE - 1);
    const replay = await rotate(token);
    expect(replay.refreshToken).to.equal(rotated.refreshToken);
    expect((await sessionRow(sessionId)).revokedAt).to.equal(null);
    // The successor still works: the replay did not fork the chain.
    expect((await rotate(rotated.refreshToken)).session.id).to.equal(sessionId);
  });

  it('takes replays within 2 s of the first replay as the same one (tabs sent together)', async () => {
    const { sessionId, token } = await started();
    const rotated = await rotate(token);
    domain.clock.advance(3);
    expect((await rotate(token)).refreshToken).to.equal(rotated.refreshToken);
    domain.clock.advance(1.5);
    expect((await rotate(token)).refreshToken).to.equal(rotated.refreshToken);
    expect((await sessionRow(sessionId)).revokedAt).to.equal(null);
  });

  it('ends the session on a second replay within the window, and the successor stops working too', async () => {
    const { sessionId, token } = await started();
    const rotated = await rotate(token);
    domain.clock.advance(1);
    await rotate(token);
    domain.clock.advance(3);
    const reuse = await rejection(rotate(token));
    expect(reuse.code).to.equal('invalid-refresh-token');
    expect(reuse.detail).to.match(/already used/);
    const row = await sessionRow(sessionId);
    expect(row.revokedReason).to.equal('refresh-token-reuse');
    expect((await rejection(rotate(rotated.refreshToken))).code).to.equal('invalid-refresh-token');
  });

  it('ends the session when a rotated token comes back after the grace window, even for its first replay', async () => {
    const { sessionId, token } = await started();
    await rotate(token);
    domain.clock.advance(GRACE + 1);
    const reuse = await rejection(rotate(token));
    expect(reuse.code).to.equal('invalid-refresh-token');
    expect((await sessionRow(sessionId)).revokedReason).to.equal('refresh-token-reuse');
  });

  it('gives every one of several concurrent rotations of one token the same successor', async () => {
    const { sessionId, token } = await started();
    const results = await Promise.all(Array.from({ length: 5 }, () => rotate(token)));
    expect(new Set(results.map((result) => result.refreshToken)).size).to.equal(1);
    expect((await sessionRow(sessionId)).revokedAt).to.equal(null);
  });

  it('refuses an unknown token without ending anything', async () => {
    const { sessionId } = await started();
    const unknown = await rejection(rotate('not-a-token-this-api-gave-out'));
    expect(unknown.code).to.equal('invalid-refresh-token');
    expect(unknown.detail).to.match(/unknown/);
    expect((await sessionRow(sessionId)).revokedAt).to.equal(null);
  });

  it('refuses the token of an expired session, and of a locked account', async () => {
    const expiring = await started();
    domain.clock.advance(TTL + 1);
    expect((await rejection(rotate(expiring.token))).detail).to.match(/session has ended/);

    const locked = await started(await domain.user(`locked-${randomUUID()}@example.com`, { lockedAt: domain.clock.now() }));
    expect((await rejection(rotate(locked.token))).code).to.equal('invalid-refresh-token');
  });
});
