#!/usr/bin/env node
// `pulse-auth <command>`. A production install (`npm ci --omit=dev` after `npm run build`) has no tsx: it runs the
// compiled CLI in dist/. A development checkout (tsx installed) runs the TypeScript sources, so that a change needs
// no rebuild; NODE_ENV=production makes it use dist/ there too, as the server does with `npm start`.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/index.js', import.meta.url);
const fromSource = process.env.NODE_ENV !== 'production' && (await import('tsx/esm/api').then(
  ({ register }) => (register(), true),
  () => false,
));
if (fromSource) {
  const { main } = await import('../src/cli/index.ts');
  await main(process.argv.slice(2));
} else if (existsSync(compiled)) {
  const { main } = await import(compiled.href);
  await main(process.argv.slice(2));
} else {
  console.error('pulse-auth: dist/ is missing; run `npm run build` first (or install the development dependencies)');
  process.exit(1);
}
