import { ProblemError } from '../domain/kernel/problem.js';
import type { Counters } from '../infra/counters.js';
import type { SigningKeys } from '../domain/tokens/signing-keys.js';
import type { OperationGroup } from './group.js';

export interface HealthDeps {
  counters: Pick<Counters, 'redis' | 'redisAnswers'>;
  signingKeys: Pick<SigningKeys, 'currentJwks'>;
}

export const healthOperations: OperationGroup<'getHealth' | 'getReadiness' | 'getJwks', HealthDeps> = (services) => ({
  async getHealth() {
    return { status: 200, body: { status: 'ok' } };
  },

  async getReadiness({ ctx }) {
    try {
      await ctx.state.em.getConnection().execute('select 1');
    } catch (error) {
      ctx.state.log.warn({ err: error }, 'readiness: database does not answer');
      throw new ProblemError('service-unavailable', { detail: 'The database does not answer.' });
    }
    if (!(await services.counters.redisAnswers())) {
      throw new ProblemError('service-unavailable', { detail: 'Redis does not answer (rate limits hold per instance meanwhile).' });
    }
    return { status: 200, body: { status: 'ok', checks: { database: 'ok', ...(services.counters.redis ? { redis: 'ok' as const } : {}) } } };
  },

  async getJwks({ ctx }) {
    ctx.set('Cache-Control', 'public, max-age=300');
    return { status: 200, body: { keys: (await services.signingKeys.currentJwks()) as never } };
  },
});
