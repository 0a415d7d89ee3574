import type { Logger } from 'pino';
import { ProblemError } from '../domain/kernel/problem.js';
import type { Counters } from '../infra/counters.js';
import type { SigningKeys } from '../domain/tokens/signing-keys.js';
import type { Metrics } from '../observability/metrics.js';
import type { OperationGroup } from './group.js';

export interface HealthDeps {
  counters: Pick<Counters, 'redis' | 'redisAnswers'>;
  signingKeys: Pick<SigningKeys, 'currentJwks'>;
  metrics: Pick<Metrics, 'dependencyUp'>;
  logger: Logger;
}

/** While a dependency stays in one state, a readiness probe logs about it at most this often (probes come every few seconds, from every balancer). */
const REPEAT_LOG_MS = 60_000;

/**
 * One log line when a dependency goes away, one when it is back, and a reminder at most every REPEAT_LOG_MS while it
 * stays away: a warn without a stack (an outage is not a bug, and a stack per probe buried everything else).
 */
class DependencyLog {
  private down = false;
  private lastLoggedAt = 0;

  constructor(
    private readonly name: string,
    private readonly consequence: string,
  ) {}

  failed(logger: Logger, reason: string): void {
    const now = Date.now();
    if (this.down && now - this.lastLoggedAt < REPEAT_LOG_MS) return;
    logger.warn({ dependency: this.name, reason, stillDown: this.down }, `readiness: ${this.name} does not answer; ${this.consequence}`);
    this.down = true;
    this.lastLoggedAt = now;
  }

  answered(logger: Logger): void {
    if (!this.down) return;
    this.down = false;
    logger.info({ dependency: this.name }, `readiness: ${this.name} answers again`);
  }
}

export const healthOperations: OperationGroup<'getHealth' | 'getReadiness' | 'getJwks', HealthDeps> = (services) => {
  const database = new DependencyLog('database', 'this instance answers 503 until it is back');
  const redis = new DependencyLog('redis', "serving, degraded: rate limits and lockouts hold per instance until it is back");
  return {
    async getHealth() {
      return { status: 200, body: { status: 'ok' } };
    },

    /**
     * Fails only for what this instance cannot serve without: the database. Redis holds shared counters, and
     * without it they hold per instance: the instance serves, and says it is degraded.
     */
    async getReadiness({ ctx }) {
      try {
        await ctx.state.em.getConnection().execute('select 1');
      } catch (error) {
        services.metrics.dependencyUp.set({ dependency: 'database' }, 0);
        database.failed(services.logger, (error as Error)?.message ?? String(error));
        throw new ProblemError('service-unavailable', { detail: 'The database does not answer.' });
      }
      services.metrics.dependencyUp.set({ dependency: 'database' }, 1);
      database.answered(services.logger);
      if (!services.counters.redis) return { status: 200, body: { status: 'ok', checks: { database: 'ok' } } };
      const redisUp = await services.counters.redisAnswers();
      services.metrics.dependencyUp.set({ dependency: 'redis' }, redisUp ? 1 : 0);
      if (redisUp) redis.answered(services.logger);
      else redis.failed(services.logger, 'no answer to PING');
      return {
        status: 200,
        body: { status: redisUp ? 'ok' : 'degraded', checks: { database: 'ok', redis: redisUp ? 'ok' : 'unavailable' } },
      };
    },

    async getJwks({ ctx }) {
      ctx.set('Cache-Control', 'public, max-age=300');
      return { status: 200, body: { keys: (await services.signingKeys.currentJwks()) as never } };
    },
  };
};
