#!/usr/bin/env node
// `npm run build`: compiles src/ to dist/ with tsc (tsconfig.build.json), copies every file of src/ that is not
// TypeScript (the bcrypt worker, the hosted pages, the common-password list) to the same place under dist/, and
// builds the docs page (build/docs.html) once, so that `npm start` is `node dist/server.js` and nothing else.
// Plain JavaScript, so that it needs no loader.
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`build: ${command} ${args.join(' ')} failed`);
    process.exit(result.status ?? 1);
  }
}

function* assets(folder) {
  for (const entry of readdirSync(folder)) {
    const path = join(folder, entry);
    if (statSync(path).isDirectory()) yield* assets(path);
    else if (!entry.endsWith('.ts')) yield path;
  }
}

// A stale module of a deleted source file must not linger in dist/.
rmSync(dist, { recursive: true, force: true });
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
let copied = 0;
for (const path of assets(src)) {
  cpSync(path, join(dist, relative(src, path)));
  copied += 1;
}
console.log(`build: dist/ compiled, ${copied} asset files copied`);
// `--no-docs`: the benchmark needs the server only.
if (!process.argv.includes('--no-docs')) run('npm', ['run', 'build:docs', '--silent']);
