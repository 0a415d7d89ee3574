/**
 * `npm run check:breaking`: fails when openapi/openapi.yaml breaks clients of openapi/baseline.yaml in a way that
 * openapi/approved-breaking-changes.yaml does not approve. The logic is in ./breaking-changes.ts.
 *
 *   tsx scripts/check-breaking-changes.ts [--baseline <file>] [--spec <file>] [--approvals <file>]
 */
import { parseArgs } from 'node:util';
import { checkFiles, DEFAULT_FILES, formatReport, passes } from './breaking-changes.js';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string', default: DEFAULT_FILES.baseline },
    spec: { type: 'string', default: DEFAULT_FILES.current },
    approvals: { type: 'string', default: DEFAULT_FILES.approvals },
  },
});

try {
  const report = await checkFiles({ baseline: values.baseline, current: values.spec, approvals: values.approvals });
  console.log(formatReport(report));
  process.exitCode = passes(report) ? 0 : 1;
} catch (error) {
  // openapi-diff refuses specs that are not valid OpenAPI; its message says where.
  console.error(`✘ The check could not run: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
}
