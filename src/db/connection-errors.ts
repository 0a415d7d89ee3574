/** Socket errors, and the PostgreSQL codes of a lost or refused connection, a shutdown or a cancelled (timed-out) statement. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED',
  '08000', '08001', '08003', '08004', '08006', '08P01', '53300', '57014', '57P01', '57P02', '57P03',
  'SQLITE_BUSY',
]);

/**
 * What the drivers throw when the connection goes, rather than when a query is wrong: pg's "Connection terminated"
 * and "…is not queryable" (a client that saw its socket fail), knex's "Transaction query already complete" (a query
 * of a transaction the lost connection already ended) and "Timeout acquiring a connection", pg-pool's connect
 * timeout. MikroORM wraps them (ConnectionException, DriverException with the code), so the cause chain is read too.
 */
const UNAVAILABLE_MESSAGES =
  /Connection terminated|not queryable|Transaction query already complete|Knex: Timeout acquiring a connection|timeout exceeded when trying to connect|Connection ended unexpectedly|Cannot use a pool after calling end|Unable to acquire a connection|canceling statement due to statement timeout/;

export function isDatabaseUnavailable(thrown: unknown): boolean {
  for (let error = thrown as { name?: string; code?: unknown; message?: string; cause?: unknown } | undefined, depth = 0; error && depth < 5; depth += 1) {
    if (error.name === 'ConnectionException') return true;
    if (typeof error.code === 'string' && UNAVAILABLE_CODES.has(error.code)) return true;
    if (UNAVAILABLE_MESSAGES.test(error.message ?? '')) return true;
    error = error.cause as typeof error;
  }
  return false;
}
