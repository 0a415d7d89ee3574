/**
 * Thin wrappers over autocannon: one scenario = one autocannon run, summarised as requests/s, p50, p99 and a count
 * of answers that were not what the scenario expects (a benchmark that counts 401s as throughput tells lies).
 */
import autocannon from 'autocannon';

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  requests: number;
  unexpected: number;
  /** The first unexpected answer, to say what went wrong. */
  firstUnexpected?: string;
  errors: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds; or run until `until` settles. */
  duration?: number;
  until?: Promise<unknown>;
  /** Builds each request (method, path, headers, body). */
  request: () => { method?: string; path: string; headers?: Record<string, string>; body?: string };
  /** Called with every answer (to keep a rotated refresh token, say). */
  onResponse?: (status: number, body: string) => void;
  expectStatus: number;
  /** Caps the request rate (requests/s over all connections): for a probe that must not add load itself. */
  overallRate?: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let unexpected = 0;
  let firstUnexpected: string | undefined;
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.until ? 3600 : (options.duration ?? 10),
    overallRate: options.overallRate,
    requests: [
      {
        setupRequest: (request: Record<string, unknown>) => {
          const built = options.request();
          return { ...request, method: built.method ?? 'GET', path: built.path, headers: { ...built.headers }, body: built.body };
        },
        onResponse: (status: number, body: string) => {
          if (status !== options.expectStatus) {
            unexpected += 1;
            firstUnexpected ??= `${status} ${body.slice(0, 300)}`;
          }
          options.onResponse?.(status, body);
        },
      },
    ],
  } as never);
  if (options.until) void options.until.finally(() => (instance as unknown as { stop(): void }).stop());
  const result = (await instance) as unknown as {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
    duration: number;
    errors: number;
    timeouts: number;
  };
  return {
    requestsPerSecond: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    unexpected,
    firstUnexpected,
    errors: result.errors + result.timeouts,
  };
}

export const json = (value: unknown) => JSON.stringify(value);
export const jsonHeaders = { 'content-type': 'application/json' };
