import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { decodeCursor, encodeCursor, findPage } from '../../src/domain/pagination.js';
import { UserSchema, type User } from '../../src/db/entities.js';
import { TestDomain } from '../helpers/domain.js';

describe('pagination cursors', function () {
  let domain: TestDomain;
  before(async () => {
    domain = await TestDomain.start();
  });
  after(() => domain?.close());

  /** `count` accounts of one run, created at the given offsets in seconds (repeats make ties on createdAt). */
  async function accounts(offsets: number[]) {
    const run = `page-${randomUUID().slice(0, 8)}`;
    const base = domain.clock.now().getTime();
    for (const [index, offset] of offsets.entries()) {
      await domain.user(`${run}-${index}@example.com`, { createdAt: new Date(base + offset * 1000) });
    }
    return { email: { $like: `${run}-%` } };
  }

  async function walk(where: Record<string, unknown>, limit: number) {
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await findPage(domain.em(), UserSchema, where, { limit, cursor }, (user: User) => user.email);
      pages.push(page.items);
      cursor = page.nextCursor ?? undefined;
      if (pages.length > 20) expect.fail('the pages do not end');
    } while (cursor);
    return pages;
  }

  const newestFirst = async (where: Record<string, unknown>) =>
    (await domain.em().find(UserSchema, where)).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1)).map((u) => u.email);

  it('walks every row once, newest first, ties on the creation time broken by id', async () => {
    const where = await accounts([0, 1, 1, 1, 2, 3, 3, 4]);
    const pages = await walk(where, 3);
    expect(pages.map((page) => page.length)).to.deep.equal([3, 3, 2]);
    expect(pages.flat()).to.deep.equal(await newestFirst(where));
  });

  it('ends with no cursor when the last page is exactly full', async () => {
    const where = await accounts([0, 1, 2, 3]);
    const pages = await walk(where, 2);
    expect(pages.map((page) => page.length)).to.deep.equal([2, 2]);
  });

  it('gives one page with no cursor when everything fits', async () => {
    const where = await accounts([0, 5]);
    const page = await findPage(domain.em(), UserSchema, where, { limit: 10 }, (user: User) => user.email);
    expect(page.items).to.have.length(2);
    expect(page.nextCursor).to.equal(null);
  });

  it('round-trips a position through an opaque cursor', () => {
    const position = { createdAt: new Date(1_700_000_000_123), id: randomUUID() };
    const cursor = encodeCursor(position);
    expect(cursor).to.match(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.to.include(position.id);
    expect(decodeCursor(cursor)).to.deep.equal(position);
  });

  it('refuses a cursor it did not give out, as a validation failure of the cursor parameter', () => {
    const forged = [
      'garbage',
      '',
      Buffer.from(`abc:${randomUUID()}`).toString('base64url'),
      Buffer.from(`1700000000000:not-a-uuid`).toString('base64url'),
      Buffer.from(`1700000000000:${randomUUID()}; drop table users`).toString('base64url'),
    ];
    for (const cursor of forged) {
      let error: any;
      try {
        decodeCursor(cursor);
      } catch (caught) {
        error = caught;
      }
      expect(error?.code, cursor).to.equal('validation-failed');
      expect(error.errors).to.deep.equal([{ pointer: '/query/cursor', detail: 'not a cursor from a previous page' }]);
    }
  });
});
