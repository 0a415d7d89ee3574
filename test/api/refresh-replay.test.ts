import { expect } from 'chai';
import { SessionSchema } from '../../src/db/entities.js';
import { TestServer } from '../helpers/server.js';
import { failWith } from '../helpers/assertions.js';

/**
 * The grace window (REFRESH_REUSE_GRACE) exists for two tabs (or two requests of one app) that refresh with the same
 * token at the same moment: the one that comes second gets the same successor. It admits one replay of a rotated
 * token: the replays that arrive together with the first one (within 2 s of it) share it; any later one is reuse,
 * and ends the session. A thief holding a rotated token cannot keep asking for the current successor.
 */
describe('refresh-token replay within the grace window', () => {
  let app: TestServer;
  let account: { email: string; password: string };
  before(async () => {
    app = await TestServer.start({ REFRESH_REUSE_GRACE: '10' });
    account = await app.createUser();
  });
  after(() => app.stop());

  const refresh = (refreshToken: string) => app.request('POST', '/v1/auth/refresh', { body: { refreshToken } });
  const sessionLive = async (id: string) => (await app.services.orm.em.fork().count(SessionSchema, { id, revokedAt: null })) === 1;

  it('refresh replay in the grace window: a rotated token gets one replay; a second replay ends the session', async () => {
    const login = await app.login(account.email, account.password);
    const rotated = await refresh(login.refreshToken!);
    expect(rotated.status).to.equal(200);
    const successor = rotated.body.refreshToken;

    // The other tab, three seconds late: the one replay, the same successor.
    app.clock.advance(3);
    const late = await refresh(login.refreshToken!);
    expect(late.status).to.equal(200);
    expect(late.body.refreshToken).to.equal(successor);

    // Asked again, still within the grace window: reuse. The session ends, its newest token with it.
    app.clock.advance(3);
    const again = await refresh(login.refreshToken!);
    failWith(again, 401, 'invalid-refresh-token');
    expect((await refresh(successor)).status).to.equal(401);
    expect(await sessionLive(login.session.id)).to.equal(false);
  });

  it('refresh replay in the grace window: a thief cannot follow the chain by replaying each successor within its own window', async () => {
    const login = await app.login(account.email, account.password);
    const first = (await refresh(login.refreshToken!)).body.refreshToken;
    const second = (await refresh(first)).body.refreshToken;
    // The thief holds `first`, already rotated: one replay gets the current successor...
    app.clock.advance(3);
    const stolen = await refresh(first);
    expect(stolen.status).to.equal(200);
    expect(stolen.body.refreshToken).to.equal(second);
    // ...and asking again, to keep up with the owner, is reuse.
    app.clock.advance(3);
    expect((await refresh(first)).status).to.equal(401);
    expect(await sessionLive(login.session.id)).to.equal(false);
  });

  it('two tabs refreshing at the same moment both keep working, and so do requests sent together with the replay', async () => {
    const login = await app.login(account.email, account.password);
    const replies = await Promise.all(Array.from({ length: 6 }, () => refresh(login.refreshToken!)));
    expect(replies.map((reply) => reply.status)).to.deep.equal(replies.map(() => 200));
    expect(new Set(replies.map((reply) => reply.body.refreshToken)).size).to.equal(1);
    const next = await refresh(replies[0].body.refreshToken);
    expect(next.status).to.equal(200);
    expect(await sessionLive(login.session.id)).to.equal(true);
  });
});
