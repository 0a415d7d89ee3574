import type { RateLimiterAbstract } from 'rate-limiter-flexible';

export interface CounterOptions {
  /** Distinguishes this counter's keys from every other's in a shared store. */
  name: string;
  points: number;
  durationSeconds: number;
}

/** Makes counters in the configured store (memory, PostgreSQL or Redis: src/infra/counters.ts). */
export interface CounterFactory {
  create(options: CounterOptions): RateLimiterAbstract;
}
