// The unit and API suite (`npm test`). On SQLite, each test file starts servers on databases of its own, so files run
// in two worker processes at once (the suite spends most of its time waiting on sockets, timers and bcrypt, not on
// the CPU). On PostgreSQL (TEST_DATABASE_URL) the files share one database, and some reset its schema: one at a time.
// `mocha --no-parallel` runs them one at a time anyway (.ci/run does, for suites it already runs side by side).
module.exports = {
  'node-option': ['import=tsx'],
  spec: ['test/unit/**/*.test.ts', 'test/api/**/*.test.ts'],
  timeout: 30000,
  exit: true,
  require: ['test/helpers/root-hooks.ts'],
  parallel: !process.env.TEST_DATABASE_URL,
  jobs: 2,
};
