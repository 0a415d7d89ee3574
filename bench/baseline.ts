/**
 * The physical limit the benchmark compares against: a bare Koa app on the same machine, in the same run, answering
 * a small JSON body with no middleware at all. Started as a child process by bench/run.ts; prints its port.
 */
import Koa from 'koa';
import type { AddressInfo } from 'node:net';

const app = new Koa();
app.use((ctx) => {
  ctx.body = { status: 'ok' };
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
