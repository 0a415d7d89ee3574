import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { ConfigError, loadConfig } from './config/load.js';
import { createApp } from './app.js';
import { createServices, type Services } from './services.js';
import { startJobs } from './jobs/scheduler.js';
import { logProcessEvents } from './observability/process-log.js';

/** How long in-flight requests get to finish after a shutdown signal before their connections are cut. */
export const SHUTDOWN_GRACE_MS = 25_000;

/** Starts Pulse Auth: the only place that reads process.env and listens. */
export async function start(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig(env);
  const services = await createServices(config);
  const app = createApp(services);
  const connections = new ConnectionTracker();
  const handle = app.callback();
  const server = createServer(
    {
      // A client that trickles its request is cut with Node's bare 408 (Node's defaults: 60 s for the headers, 300 s
      // for the whole request). Both clocks run only while a request is being received: from its first byte, not
      // while a keep-alive connection waits for the next request, so they do not cut into keepAliveTimeout.
      headersTimeout: config.HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
      requestTimeout: config.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
      // How often Node looks for requests past those timeouts (default 30 s, which would triple a 10 s timeout).
      connectionsCheckingInterval: 1_000,
    },
    (request, response) => {
      connections.requestStarted(request.socket, response);
      return handle(request, response);
    },
  );
  connections.watch(server);
  // Longer than the idle timeout of common load balancers (60 s), so that the balancer, not this server, closes an
  // idle keep-alive connection; otherwise a request can race the close and fail. Node's default is 5 s. (The old
  // advice to keep headersTimeout above it dates from Node versions that started the headers clock at the end of
  // the previous request; test/api/slow-clients.test.ts checks that an idle connection outlives both timeouts.)
  server.keepAliveTimeout = 65_000;
  server.listen(config.PORT, config.HOST);
  await once(server, 'listening');
  const jobs = config.SCHEDULED_JOBS ? startJobs(services) : { stop() {} };
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  services.logger.info(
    { port, publicUrl: config.PUBLIC_URL, database: config.DATABASE_URL.startsWith('file:') ? 'sqlite' : 'postgresql', mail: services.mailTransport.kind },
    'Pulse Auth is listening',
  );
  // Mail left in the outbox by an earlier run goes out now.
  services.mailer.kick();
  // Webhook deliveries too, and from now on every WEBHOOK_POLL_SECONDS (retries, other instances' events).
  services.webhooks.start();
  let stopping: Promise<void> | undefined;
  return { server, services, port, stop: () => (stopping ??= stop(server, connections, services, jobs)) };
}

/**
 * Graceful stop: no new connections; every request already received is answered in full (with `Connection: close`,
 * so that no client sends another on that connection); idle connections are closed; then the mail in progress, the
 * password workers and the database pool. After SHUTDOWN_GRACE_MS, connections still open are cut.
 */
async function stop(server: Server, connections: ConnectionTracker, services: Services, jobs: { stop(): void | Promise<void> }) {
  // No job starts from now on. (Should stopping ever wait for a run in progress, that wait ends before the pool closes.)
  const jobsStopped = Promise.resolve(jobs.stop());
  const closed = once(server, 'close');
  connections.drain();
  await acceptQueued(connections);
  // Stops listening. Not http.Server#close: that also resets every connection whose request is not read yet.
  NetServer.prototype.close.call(server);
  const grace = setTimeout(() => {
    services.logger.warn({ open: connections.size }, 'shutdown: requests still running after the grace period; closing their connections');
    server.closeAllConnections();
  }, SHUTDOWN_GRACE_MS);
  grace.unref();
  await closed;
  clearTimeout(grace);
  await jobsStopped;
  await services.close();
}

/**
 * Closing the listening socket resets every connection the kernel has completed but Node has not accepted yet, and
 * libuv accepts one such connection per turn of the event loop: under load (a busy loop) dozens can be waiting. So
 * the loop is turned until a whole turn accepts nothing, or for at most a second when new connections keep coming.
 */
async function acceptQueued(connections: ConnectionTracker): Promise<void> {
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
  const deadline = Date.now() + 1_000;
  // The first wait ends in the turn the shutdown began in, whose I/O was partly handled before it.
  await nextTurn();
  for (;;) {
    const before = connections.accepted;
    await nextTurn();
    if (connections.accepted === before || Date.now() > deadline) return;
  }
}

/**
 * Which connections are in the middle of a request. Node's own `closeIdleConnections` treats a connection whose
 * first request has not been read yet as idle and resets it; this tracker gives such a connection a moment to deliver
 * its request, answers it, and only then closes it.
 */
class ConnectionTracker {
  private readonly sockets = new Map<Socket, { busy: number; served: number }>();
  private draining = false;
  /** Connections accepted since the start. */
  accepted = 0;

  get size(): number {
    return this.sockets.size;
  }

  watch(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.accepted += 1;
      this.sockets.set(socket, { busy: 0, served: 0 });
      socket.once('close', () => this.sockets.delete(socket));
      if (this.draining) this.closeWhenIdle(socket);
    });
  }

  requestStarted(socket: Socket, response: ServerResponse): void {
    const state = this.sockets.get(socket);
    if (state) state.busy += 1;
    if (this.draining) response.setHeader('Connection', 'close');
    response.once('close', () => {
      if (!state) return;
      state.busy -= 1;
      state.served += 1;
      if (this.draining) this.closeWhenIdle(socket);
    });
  }

  /** From now on: every response closes its connection, and connections with nothing to answer are closed. */
  drain(): void {
    this.draining = true;
    for (const socket of this.sockets.keys()) {
      const response = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
      if (response && !response.headersSent) response.setHeader('Connection', 'close');
      this.closeWhenIdle(socket);
    }
  }

  private closeWhenIdle(socket: Socket): void {
    const state = this.sockets.get(socket);
    if (!state || state.busy > 0) return;
    if (state.served > 0) {
      // Between two keep-alive requests: nothing is lost by closing it now.
      socket.destroySoon();
      return;
    }
    // Accepted, but its request (if it sends one) is not read yet: wait a little for it.
    setTimeout(() => {
      const current = this.sockets.get(socket);
      if (current && current.busy === 0) socket.destroySoon();
    }, FIRST_REQUEST_WAIT_MS).unref();
  }
}

/** How long a connection accepted just before a shutdown may take to send its first request. */
const FIRST_REQUEST_WAIT_MS = 1_000;

/** A second shutdown signal this soon after the first is the same one, forwarded (see below). */
const DUPLICATE_SIGNAL_MS = 1_000;

const isMain = (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) || process.argv[1]?.endsWith('/src/server.ts');
if (isMain) {
  // A local `.env` fills in what the environment does not set (Node's own loader; no dependency).
  if (existsSync('.env')) process.loadEnvFile('.env');
  // Listening for the signals before start-up finishes: a signal during start-up stops the server once it is up.
  let requested: NodeJS.Signals | undefined;
  let requestedAt = 0;
  let running: Awaited<ReturnType<typeof start>> | undefined;
  const shutDown = (signal: NodeJS.Signals) => {
    running!.services.logger.info({ signal }, 'shutting down');
    running!.stop().then(
      () => process.exit(0),
      (error) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (requested) {
        // The same stop delivered twice: Ctrl-C (or a supervisor signalling the whole process group) reaches both
        // `npm start` and this process, and npm forwards it once more. Only a later signal means "stop waiting".
        if (Date.now() - requestedAt < DUPLICATE_SIGNAL_MS) return;
        console.error(`${signal} again: exiting now`);
        process.exit(1);
      }
      requested = signal;
      requestedAt = Date.now();
      if (running) shutDown(signal);
    });
  }
  try {
    running = await start();
    logProcessEvents(running.services.logger);
    if (requested) shutDown(requested);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    console.error(error);
    process.exit(1);
  }
}
