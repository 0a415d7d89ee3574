#!/usr/bin/env node
// `pulse-auth <command>`: loads the TypeScript sources through tsx (a runtime dependency) and runs the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/index.ts');
await main(process.argv.slice(2));
