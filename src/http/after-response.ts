import type { AppContext } from './context.js';

/**
 * Runs `work` once the response has been handed to the client (or the client has gone). For work whose presence
 * would tell something about an account (a reset link for a known email): done before the answer, even "in the
 * background", it delays the answer, because SQLite statements run on the event loop.
 */
export function afterResponse(ctx: AppContext, work: () => void): void {
  let started = false;
  const run = () => {
    if (started) return;
    started = true;
    work();
  };
  ctx.res.once('finish', run);
  ctx.res.once('close', run);
}
