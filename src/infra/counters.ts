import type { Redis } from 'ioredis';
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type { MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { CounterFactory, CounterOptions } from '../domain/protection/counters.js';

export type CounterStore = 'memory' | 'database' | 'redis';

/**
 * Makes the counters behind rate limits and lockouts, all in one store: memory for a single instance, PostgreSQL
 * (the `rate_limits` table, through the ORM's connection) or Redis when several instances share the load.
 *
 * With Redis, every counter has an in-memory insurance counter: while Redis is down, limits still hold, per
 * instance, and requests are never refused because of the outage. `/ready` reports the instance as degraded meanwhile (still 200: it serves).
 */
export class Counters implements CounterFactory {
  readonly store: CounterStore;
  readonly redis?: Redis;
  private readonly prefix: string;

  /** Opens the store the configuration chooses; ioredis is imported only when that store is Redis. */
  static async open(config: Config, orm: MikroORM, logger: Logger): Promise<Counters> {
    const store = chooseStore(config);
    const RedisClient = store === 'redis' ? (await import('ioredis')).Redis : undefined;
    return new Counters(config, orm, logger, store, RedisClient);
  }

  private constructor(
    config: Config,
    private readonly orm: MikroORM,
    logger: Logger,
    store: CounterStore,
    RedisClient?: typeof Redis,
  ) {
    this.store = store;
    this.prefix = config.RATE_LIMIT_KEY_PREFIX;
    if (RedisClient) {
      this.redis = new RedisClient(config.REDIS_URL!, {
        // Fail commands at once while disconnected, so that the insurance counter answers instead of a queue.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: 2_000,
        lazyConnect: false,
      });
      let reported = false;
      this.redis.on('error', (error) => {
        if (!reported) logger.error({ err: error }, 'redis: connection failed; counters fall back to this instance\'s memory');
        reported = true;
      });
      this.redis.on('ready', () => {
        if (reported) logger.info('redis: connected again');
        reported = false;
      });
    }
  }

  create(options: CounterOptions): RateLimiterAbstract {
    const common = { keyPrefix: `${this.prefix}:${options.name}`, points: options.points, duration: options.durationSeconds };
    switch (this.store) {
      case 'memory':
        return new RateLimiterMemory(common);
      case 'redis':
        return new RateLimiterRedis({ ...common, storeClient: this.redis, insuranceLimiter: new RateLimiterMemory(common) });
      case 'database':
        return new RateLimiterPostgres({
          ...common,
          storeClient: (this.orm.em.getConnection() as unknown as { getKnex(): unknown }).getKnex(),
          storeType: 'knex',
          tableName: 'rate_limits',
          // The table comes from a migration; expired rows go with the delete-spent-tokens job.
          tableCreated: true,
          clearExpiredByTimeout: false,
        });
    }
  }

  /** For readiness: whether the shared store answers (memory and the database are checked elsewhere). */
  async redisAnswers(): Promise<boolean> {
    if (!this.redis) return true;
    // A Redis that accepts connections but does not answer must not hold the probe: no answer in 1 s is "down".
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 1_000)));
    try {
      return await Promise.race([this.redis.ping().then((reply) => reply === 'PONG'), timeout]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.redis) this.redis.disconnect();
  }
}

function chooseStore(config: Config): CounterStore {
  if (config.RATE_LIMIT_STORE !== 'auto') return config.RATE_LIMIT_STORE;
  if (config.REDIS_URL) return 'redis';
  return config.DATABASE_URL.startsWith('postgres') ? 'database' : 'memory';
}
