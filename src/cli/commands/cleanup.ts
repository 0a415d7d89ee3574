import { withServices } from '../context.js';
import type { Command } from '../command.js';

/** Runs every cleanup job once, now, and prints what each removed. */
export const cleanupCommand: Command = {
  name: 'cleanup',
  synopsis: 'cleanup',
  summary: 'run every cleanup job once and print what each removed',
  description: [
    'The jobs the server schedules (expired registrations, spent tokens, old sign-in attempts, old mail and audit',
    'events, expired counters, deleted accounts past their grace), run one after the other. On PostgreSQL a job another instance is running',
    'at that moment is reported as skipped.',
  ].join('\n'),
  positionals: { min: 0, max: 0 },
  async run(context) {
    const { runCleanup } = await import('../../jobs/scheduler.js');
    await withServices(context, async (services) => {
      const results = await runCleanup(services);
      await services.audit.record({ action: 'admin.cleanup-run', details: { via: 'cli cleanup' } });
      const width = Math.max(...results.map((result) => result.name.length));
      for (const { name, counts } of results) {
        const what =
          counts === 'skipped'
            ? 'skipped (another instance is running it)'
            : Object.entries(counts)
                .map(([key, count]) => `${key}=${count}`)
                .join(' ');
        context.out(`${name.padEnd(width)}  ${what}`);
      }
    });
  },
};
