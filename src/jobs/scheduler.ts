import { Cron } from 'croner';
import type { Services } from '../services.js';

/**
 * The scheduled jobs. Each job is a plain function that tests call directly; the schedule only calls it.
 * `protect` keeps a run from starting while the previous one is still going.
 */
export function startJobs(services: Services): { stop(): void } {
  const jobs = [
    new Cron('*/10 * * * * *', { name: 'deliver-mail', protect: true }, async () => {
      const counts = await services.mailer.deliverDue();
      if (counts.sent + counts.retried + counts.failed > 0) services.logger.info({ job: 'deliver-mail', ...counts }, 'job ran');
    }),
  ];
  return {
    stop: () => jobs.forEach((job) => job.stop()),
  };
}
