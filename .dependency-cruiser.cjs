/**
 * The floors of src/ (docs/ARCHITECTURE.md): every import looks down, and no file reaches itself again.
 * Type-only imports count (tsPreCompilationDeps): a type cycle is still a cycle for whoever reads the code.
 * `npm run check:architecture`; CI runs it next to the type check.
 */
const COMPOSITION_ROOT = '^src/(services|app|server)\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'A cycle means two files cannot be understood, tested or moved apart.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-looks-down',
      comment:
        'The domain owns its kernel and ports; web, mail, adapters, jobs and CLI sit above it and are given to it.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: ['^src/(http|operations|mail|infra|jobs|cli)/', COMPOSITION_ROOT] },
    },
    {
      name: 'domain-without-web-or-drivers',
      comment: 'No Koa, Express or validator in the domain; drivers (pg, ioredis, piscina) live in src/infra.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-bundled', 'npm-no-pkg', 'npm-unknown'],
        path: '(^|/)node_modules/(koa|koa-[^/]+|@koa/[^/]+|express|express-[^/]+|pg|ioredis|piscina)/',
      },
    },
    {
      name: 'kernel-is-the-bottom-of-the-domain',
      comment: 'The kernel (problems, actor, clock, ports) depends on no other domain area.',
      severity: 'error',
      from: { path: '^src/domain/kernel/' },
      to: { path: '^src/domain/', pathNot: '^src/domain/kernel/' },
    },
    {
      name: 'infra-looks-down',
      comment: 'Adapters implement domain ports; they know nothing of requests, handlers, jobs or the CLI.',
      severity: 'error',
      from: { path: '^src/infra/' },
      to: { path: ['^src/(http|operations|mail|jobs|cli)/', COMPOSITION_ROOT] },
    },
    {
      name: 'mail-looks-down',
      comment: 'Mail renders and delivers what the domain queued; it is not a web, adapter or job concern.',
      severity: 'error',
      from: { path: '^src/mail/' },
      to: { path: ['^src/(http|operations|infra|jobs|cli)/', COMPOSITION_ROOT] },
    },
    {
      name: 'http-below-operations',
      comment: 'src/http is the machinery every operation uses; only the composition root joins the two.',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: ['^src/(operations|jobs|cli)/', COMPOSITION_ROOT] },
    },
    {
      name: 'operations-call-the-domain',
      comment:
        'A handler reads the request and calls domain functions; queries and entity rules belong in src/domain/<area>. ' +
        'A type the handler needs comes through the domain.',
      severity: 'error',
      from: { path: '^src/operations/' },
      to: { path: '^src/db/' },
    },
    {
      name: 'operations-and-jobs-get-their-deps',
      comment:
        'Each operation module and the scheduler declare the few dependencies they use (their …Deps); the composition ' +
        'root builds them and hands them in. Importing it back would make every module depend on everything.',
      severity: 'error',
      from: { path: '^src/(operations|jobs)/' },
      to: { path: COMPOSITION_ROOT },
    },
    {
      name: 'below-src',
      comment: 'Generated types, the database layer and config sit below src/ everything; they import none of it.',
      severity: 'error',
      from: { path: '^(generated|src/db|src/config)/' },
      to: { path: '^src/(domain/(?!users/email-format\\.ts$)|http|operations|mail|infra|jobs|cli)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      exportsFields: ['exports'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
