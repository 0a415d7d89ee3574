// Runs in a piscina worker thread, so that bcrypt never blocks the HTTP event loop.
// Plain JavaScript: worker threads do not inherit a TypeScript loader in every runner.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import bcrypt from 'bcryptjs';

// The hashing threads run at a lower CPU priority than the event loop (Linux: a thread has its own nice value):
// when a login storm keeps every core busy, the event loop still gets the CPU first and /health, getMe and the
// rest answer on time; hashing only gets slower in proportion. Elsewhere this is a no-op.
try {
  const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(threadId)) setPriority(threadId, 10);
} catch {
  // not Linux, or not allowed: hashing runs at the normal priority
}

/** @param {{ op: 'hash', password: string, cost: number } | { op: 'verify', password: string, hash: string }} task */
export default function bcryptTask(task) {
  if (task.op === 'hash') return bcrypt.hashSync(task.password, task.cost);
  return bcrypt.compareSync(task.password, task.hash);
}
