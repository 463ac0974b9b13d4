/**
 * `npm run bench -- startup`: only the start-up figures (bench/startup.ts) against a hub of their own:
 * CLI calls from this checkout and from the packaged bundles beside `node -e 0`, and the agent's
 * readiness and idle memory, run from the checkout and packaged.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initHub, startHub } from '@tillbridge/scripts/lib/cluster';
import { withCleanups } from './cleanups.js';
import { startup } from './startup.js';
import { machine } from './stats.js';

const dir = mkdtempSync(join(tmpdir(), 'tb-bench-startup-'));
process.stdout.write(`Tillbridge start-up benchmark — ${new Date().toISOString()}\n${machine()}\n`);
await withCleanups(dir, async (cleanups) => {
  const hubDir = join(dir, 'hub');
  const adminToken = await initHub(hubDir);
  const hub = await startHub({ dataDir: hubDir, adminToken });
  cleanups.push(() => hub.proc.stop());
  const out = await startup(dir, hub, cleanups);
  if (process.argv.includes('--json')) process.stdout.write(`\n${JSON.stringify(out, null, 2)}\n`);
});
