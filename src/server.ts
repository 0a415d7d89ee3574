import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { ConfigError, loadConfig } from './config/load.js';
import { createApp } from './app.js';
import { createServices, type Services } from './services.js';
import { startJobs } from './jobs/scheduler.js';

/** Starts Pulse Auth: the only place that reads process.env and listens. */
export async function start(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig(env);
  const services = await createServices(config);
  const app = createApp(services);
  const server = createServer(app.callback());
  // Longer than the idle timeout of common load balancers (60 s), so that the balancer, not this server, closes an
  // idle keep-alive connection; otherwise a request can race the close and fail. Node's default is 5 s.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.listen(config.PORT, config.HOST);
  await once(server, 'listening');
  const jobs = startJobs(services);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  services.logger.info(
    { port, publicUrl: config.PUBLIC_URL, database: config.DATABASE_URL.startsWith('file:') ? 'sqlite' : 'postgresql', mail: services.mailTransport.kind },
    'Pulse Auth is listening',
  );
  // Mail left in the outbox by an earlier run goes out now.
  services.mailer.kick();
  return { server, services, port, stop: () => stop(server, services, jobs) };
}

async function stop(server: Server, services: Services, jobs: { stop(): void }) {
  jobs.stop();
  server.close();
  server.closeIdleConnections();
  await once(server, 'close');
  await services.close();
}

const isMain = import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/src/server.ts');
if (isMain) {
  // A local `.env` fills in what the environment does not set (Node's own loader; no dependency).
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    const running = await start();
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        running.services.logger.info({ signal }, 'shutting down');
        running.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      });
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    console.error(error);
    process.exit(1);
  }
}
