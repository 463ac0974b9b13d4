/**
 * Where a process spent its CPU: reads V8 .cpuprofile files (node --cpu-prof; for the bench's hub and
 * agent set TILLBRIDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR") and prints self time by module
 * (the package, or the file of this repository) and by function, largest first.
 *
 *   node bench/dist/profile-summary.js FILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The module a script URL belongs to: an npm package, a node: builtin, or a file of this repository. */
export function moduleOf(url: string): string {
  if (url === '') return '(native / idle / gc)';
  if (url.startsWith('node:')) return url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1];
  const own = /\/(shared|agent|central|scripts|bench)\/dist\/(.*)$/.exec(url);
  return own ? `${own[1] ?? ''}/${own[2] ?? ''}` : url;
}

/** Self time (ms) per key, from the samples and their time deltas. */
export function selfTimes(profile: Profile, key: (n: ProfileNode) => string): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (!node) return;
    const k = key(node);
    out.set(k, (out.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return out;
}

function table(title: string, times: Map<string, number>, top: number, total: number): string {
  const rows = [...times.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  const lines = rows.map(
    ([k, ms]) => `${ms.toFixed(0).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)} %  ${k}`,
  );
  return `${title}\n${lines.join('\n')}\n`;
}

function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: profile-summary FILE.cpuprofile [--top N]');
  const topAt = process.argv.indexOf('--top');
  const top = topAt > 0 ? Number(process.argv[topAt + 1]) : 25;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const all = selfTimes(profile, () => 'all');
  const total = all.get('all') ?? 0;
  const idle = selfTimes(profile, (n) => n.callFrame.functionName).get('(idle)') ?? 0;
  process.stdout.write(`${file}: ${total.toFixed(0)} ms sampled, ${(total - idle).toFixed(0)} ms not idle\n\n`);
  process.stdout.write(
    table(
      'self time by module',
      selfTimes(profile, (n) => moduleOf(n.callFrame.url)),
      top,
      total,
    ),
  );
  process.stdout.write('\n');
  const fn = (n: ProfileNode): string =>
    `${n.callFrame.functionName || '(anonymous)'} ${moduleOf(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  process.stdout.write(table('self time by function', selfTimes(profile, fn), top, total));
}

main();
