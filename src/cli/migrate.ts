/**
 * `npm run migrate`: the same as `pulse-auth migrate` (src/cli/commands/migrate.ts), kept for existing deployments.
 */
import { main } from './index.js';

await main(['migrate', ...process.argv.slice(2)]);
