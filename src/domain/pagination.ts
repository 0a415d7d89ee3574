import type { EntityManager, EntityName, FilterQuery } from '@mikro-orm/core';
import { ProblemError } from './kernel/problem.js';

export interface Position {
  createdAt: Date;
  id: string;
}

/**
 * Cursor pages over rows ordered newest first by (createdAt, id). The cursor is the last row's position, opaque
 * to clients; a page asks for one row more than it shows, to know whether another page follows.
 */
export const encodeCursor = (row: Position) => Buffer.from(`${row.createdAt.getTime()}:${row.id}`).toString('base64url');

export function decodeCursor(cursor: string): Position {
  const match = /^(\d{1,15}):([0-9a-f-]{36})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) {
    throw new ProblemError('validation-failed', {
      detail: 'The cursor is not one this API gave out.',
      errors: [{ pointer: '/query/cursor', detail: 'not a cursor from a previous page' }],
    });
  }
  return { createdAt: new Date(Number(match[1])), id: match[2] };
}

/** The filter that starts a page after `cursor` (none for the first page). */
export function afterCursor(cursor: string | undefined): Record<string, unknown> {
  if (!cursor) return {};
  const after = decodeCursor(cursor);
  // The plain `createdAt <= …` bound lets an index on (…, createdAt, id) start its scan at the cursor; with the `or`
  // alone, SQLite walked every newer row again on each page (in $and, so a createdAt filter of the caller stays).
  return {
    $and: [
      { createdAt: { $lte: after.createdAt } },
      { $or: [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, id: { $lt: after.id } }] },
    ],
  };
}

export const NEWEST_FIRST = { createdAt: 'desc', id: 'desc' } as const;

/** Cuts the extra row off and makes the next cursor. */
export function page<Row extends Position, Item>(rows: Row[], limit: number, view: (row: Row) => Item): { items: Item[]; nextCursor: string | null } {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return { items: shown.map(view), nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

/**
 * One page of rows newest first: the filter, plus the cursor's position, with one row more than the page shows to
 * know whether another follows. Every cursor-paged list goes through here.
 */
export async function findPage<Row extends Position, Item>(
  em: EntityManager,
  entity: EntityName<Row>,
  where: Record<string, unknown>,
  request: { limit: number; cursor?: string },
  view: (row: Row) => Item,
  options: { populate?: string[] } = {},
): Promise<{ items: Item[]; nextCursor: string | null }> {
  const rows = (await em.find(entity, { ...where, ...afterCursor(request.cursor) } as FilterQuery<Row>, {
    orderBy: NEWEST_FIRST,
    limit: request.limit + 1,
    ...(options.populate ? { populate: options.populate as never } : {}),
  })) as Row[];
  return page(rows, request.limit, view);
}
