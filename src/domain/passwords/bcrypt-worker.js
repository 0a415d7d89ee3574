// Runs in a piscina worker thread, so that bcrypt never blocks the HTTP event loop.
// Plain JavaScript: worker threads do not inherit a TypeScript loader in every runner.
import bcrypt from 'bcryptjs';

/** @param {{ op: 'hash', password: string, cost: number } | { op: 'verify', password: string, hash: string }} task */
export default function bcryptTask(task) {
  if (task.op === 'hash') return bcrypt.hashSync(task.password, task.cost);
  return bcrypt.compareSync(task.password, task.hash);
}
