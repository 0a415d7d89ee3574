import { DriverException } from '@mikro-orm/core';
import { isDatabaseUnavailable } from '../db/connection-errors.js';

/**
 * A database error's message starts with the SQL and its values (an outbox row holds the mail with its link, a
 * users row the name): the log gets the driver's own reason and the stack, not the statement.
 */
export function loggableError(thrown: unknown): unknown {
  // A lost connection is an outage, not a bug: its reason and code, without a stack (there is one per request or
  // job run while it lasts, and they all say the same).
  if (isDatabaseUnavailable(thrown)) {
    const error = thrown as { name?: string; message?: string; code?: unknown };
    const message = error?.message ?? String(thrown);
    const at = message.lastIndexOf(' - ');
    // No `message` key: pino's error serializer would take it for an error and add an empty stack.
    return { type: error?.name ?? 'Error', reason: at < 0 ? message : message.slice(at + 3), code: error?.code, connectionLost: true };
  }
  if (!(thrown instanceof DriverException)) return thrown;
  const at = thrown.message.lastIndexOf(' - ');
  const reason = at < 0 ? thrown.message : thrown.message.slice(at + 3);
  const stack = thrown.stack ?? '';
  const frames = stack.indexOf('\n    at ');
  const scrubbed = Object.assign(new Error(reason), { code: (thrown as { code?: unknown }).code });
  scrubbed.name = thrown.name;
  scrubbed.stack = `${thrown.name}: ${reason}${frames < 0 ? '' : stack.slice(frames)}`;
  return scrubbed;
}
