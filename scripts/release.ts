/**
 * `npm run release [-- --version X] [--no-deb] [--out DIR]`: the agent's and the hub's bundles in
 * release/agent and release/hub, and tillbridge-agent_<version>_<arch>.deb and
 * tillbridge-hub_<version>_<arch>.deb in release/ (docs/install.md). The version is package.json's,
 * or --version, or TILLBRIDGE_RELEASE_VERSION (CI builds a newer one to test upgrades).
 *
 * `--windows` (implied on Windows): only the agent, in release/agent, with WinSW and
 * Install-Tillbridge.ps1 added (docs/install-windows.md), no .deb; on Windows also
 * tillbridge-agent-<version>-win-<arch>.zip. Elsewhere the layout only, to look at or test: its
 * native modules are this machine's, so it is not a Windows bundle and no zip is written.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './lib/paths.js';
import {
  APPS,
  buildDeb,
  bundleApp,
  checkVersion,
  findWinsw,
  mainFile,
  platformTag,
  windowsLayout,
  windowsZipName,
  zipBundle,
  type AppName,
} from './lib/release.js';

function usage(message: string): never {
  process.stderr.write(
    `error: ${message}\nusage: npm run release -- [--version X] [--no-deb] [--windows] [--out DIR]\n`,
  );
  process.exit(2);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        version: { type: 'string' },
        'no-deb': { type: 'boolean' },
        windows: { type: 'boolean' },
        out: { type: 'string' },
      },
      strict: true,
    }).values;
  } catch (err) {
    usage((err as Error).message);
  }
  const pkgVersion = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  let version: string;
  try {
    version = checkVersion(args.version ?? process.env.TILLBRIDGE_RELEASE_VERSION ?? pkgVersion);
  } catch (err) {
    usage((err as Error).message);
  }
  const out = resolve(args.out ?? join(ROOT, 'release'));
  const onWindows = process.platform === 'win32';
  const windows = onWindows || args.windows === true;
  // before building anything: the Windows bundle cannot be made without WinSW
  if (windows) findWinsw(ROOT);
  process.umask(0o022);
  process.stdout.write(
    `== Tillbridge ${version} → ` +
      `${relative(process.cwd(), out) || '.'}${windows ? " (the agent's Windows bundle only)" : ''}\n`,
  );
  if (windows && !onWindows) {
    process.stdout.write(
      `warning: --windows on ${platformTag()}: the native modules copied (better-sqlite3, serialport's bindings, ` +
        `node-hid) are this machine's, not Windows builds. What is built is the Windows bundle's layout, to look at ` +
        `or test: it is NOT a Windows bundle, and no zip is written. Build it on Windows (npm ci, then npm run ` +
        `release -- --windows).\n`,
    );
  }
  for (const app of (windows ? ['agent'] : ['agent', 'hub']) as AppName[]) {
    const spec = APPS[app];
    const b = await bundleApp(ROOT, spec, version, join(out, app));
    // the bundle must start and say its version (the externals it loads at start must be there)
    const r = spawnSync(process.execPath, [b.main, '--version'], { encoding: 'utf8', cwd: out });
    if (r.status !== 0 || r.stdout.trim() !== version) {
      throw new Error(
        `${relative(ROOT, b.main)} --version: expected ${version}, got exit ${r.status}: ${r.stdout}${r.stderr}`,
      );
    }
    process.stdout.write(
      `${spec.pkg}: ${relative(process.cwd(), b.dir)}/${mainFile(spec)}, ${b.packages.length} packages outside the ` +
        `bundle, native: ${b.natives.join(', ')}\n`,
    );
    if (windows) {
      const w = windowsLayout(ROOT, b.dir);
      process.stdout.write(
        `${spec.pkg}: added ${w.files.join(', ')} (WinSW ${w.winsw.fileVersion ?? '?'} from node-windows ` +
          `${w.winsw.pkgVersion})\n`,
      );
      if (onWindows) {
        const zip = join(out, windowsZipName(version));
        zipBundle(b.dir, zip);
        process.stdout.write(`${spec.pkg}: ${relative(process.cwd(), zip)}\n`);
      } else {
        process.stdout.write(
          `${spec.pkg}: NOT a Windows bundle (native modules for ${platformTag()}); no zip written\n`,
        );
      }
    } else if (!args['no-deb']) {
      const d = buildDeb(ROOT, spec, version, b.dir, out);
      process.stdout.write(`${spec.pkg}: ${relative(process.cwd(), d.file)}\n`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`release failed: ${(err as Error).message}\n`);
  process.exit(1);
});
