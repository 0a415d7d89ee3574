import { DriverException } from '@mikro-orm/core';

/**
 * A database error's message starts with the SQL and its values (an outbox row holds the mail with its link, a
 * users row the name): the log gets the driver's own reason and the stack, not the statement.
 */
export function loggableError(thrown: unknown): unknown {
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
