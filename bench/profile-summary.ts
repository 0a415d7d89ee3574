/**
 * `npx tsx bench/profile-summary.ts <file.cpuprofile>`: where a V8 CPU profile (from `BENCH_CPU_PROF=1 npm run bench`,
 * which passes --cpu-prof to the server) spent its time: self time by function and by package, top 25 each.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const profile = JSON.parse(readFileSync(process.argv[2], 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfTime = new Map<number, number>();
profile.samples.forEach((id, index) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
const total = [...selfTime.values()].reduce((sum, value) => sum + value, 0);

const packageOf = (url: string) => {
  if (!url) return '(native/idle)';
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match) return match[1];
  if (url.startsWith('node:')) return 'node core';
  return url.includes('/src/') ? 'pulse-auth src' : url;
};

function top(key: (node: Node) => string) {
  const sums = new Map<string, number>();
  for (const [id, time] of selfTime) {
    const name = key(byId.get(id)!);
    sums.set(name, (sums.get(name) ?? 0) + time);
  }
  return [...sums].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([name, time]) => `${((time / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
}

console.log(`total ${(total / 1e6).toFixed(1)} s sampled\n\nby package:`);
console.log(top((node) => packageOf(node.callFrame.url)).join('\n'));
console.log('\nby function:');
console.log(top((node) => `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*node_modules\//, '')}:${node.callFrame.lineNumber}`).join('\n'));
