/**
 * `npm run release`: self-contained bundles of the agent and the hub, and a Debian package of each
 * (docs/install.md). The production code (tsc's output) is bundled with esbuild into one ESM file
 * per program, with chunks/ for what its commands load on demand; the native modules, and the
 * packages they need at run time, are left outside the bundle and copied from the already-built
 * node_modules: nothing is compiled again.
 */
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';

export type AppName = 'agent' | 'hub';

export interface AppSpec {
  app: AppName;
  /** The Debian package, the command in /usr/bin and the systemd unit's name. */
  pkg: 'tillbridge-agent' | 'tillbridge-hub';
  /** The workspace holding the program (its tsc output is what gets bundled). */
  workspace: 'agent' | 'central';
  /** tsc's output the bundle starts from, relative to the repository root. */
  entry: string;
  /** Packages left outside the bundle (native code loaded from files next to it), copied with what they need. */
  externals: string[];
  /** Files the installed program or its operators read from disk, copied into the bundle's directory. */
  assets: { from: string; to: string }[];
  /** The data directory the package creates (0700, owned by the tillbridge user) and the unit uses. */
  dataDir: string;
  /** The example config shipped as a conffile: repository path → installed path. */
  config: { from: string; to: string };
  /** Debian Depends, besides nodejs and adduser. */
  depends: string[];
  recommends: string[];
  description: string[];
}

/** Where the packages install the bundles. */
export const INSTALL_ROOT = '/opt/tillbridge';

export const APPS: Record<AppName, AppSpec> = {
  agent: {
    app: 'agent',
    pkg: 'tillbridge-agent',
    workspace: 'agent',
    entry: 'agent/dist/cli.js',
    // better-sqlite3: build/Release/better_sqlite3.node (via bindings, file-uri-to-path);
    // serialport's native half: prebuilds/ via node-gyp-build; node-hid: prebuilds/ via pkg-prebuilds
    externals: ['better-sqlite3', '@serialport/bindings-cpp', 'node-hid'],
    // the legacy register profiles docs/legacy-profiles.md describes (a config names one by its path)
    assets: [{ from: 'installers/profiles', to: 'profiles' }],
    dataDir: '/var/lib/tillbridge',
    config: { from: 'installers/agent.json.example', to: '/etc/tillbridge/agent.json' },
    // libudev: serialport's and node-hid's prebuilds link it; libusb only for HID registers and scanners
    depends: ['libc6', 'libstdc++6', 'libudev1'],
    recommends: ['libusb-1.0-0'],
    description: [
      'Tillbridge store agent',
      "Links a store's registers (TCP, serial, HTTP, USB HID) to the Tillbridge returns hub:",
      'sales and returns are kept in SQLite and synced, returns are decided online or offline.',
    ],
  },
  hub: {
    app: 'hub',
    pkg: 'tillbridge-hub',
    workspace: 'central',
    entry: 'central/dist/cli.js',
    // better-sqlite3 (the embedded store); pg-native → libpq (build/Release/addon.node, against libpq5),
    // which central/src/storage/postgres.ts imports at start: --database postgres://…
    externals: ['better-sqlite3', 'pg-native'],
    // the ERP feed's JSON Schemas (docs/erp-feed.md), for whoever consumes the feed; the operator console's page
    // (docs/console.md, built by npm run build), which the hub finds next to its bundle (central/src/console/static.ts)
    assets: [
      { from: 'central/schemas', to: 'schemas' },
      { from: 'central/console-ui/dist', to: 'console' },
    ],
    dataDir: '/var/lib/tillbridge-hub',
    config: { from: 'installers/hub.env.example', to: '/etc/tillbridge/hub.env' },
    depends: ['libc6', 'libstdc++6', 'libpq5'],
    recommends: [],
    description: [
      'Tillbridge returns hub',
      'The central returns system: stores, inventory, sales, returns policies and the audit',
      "log, serving the store agents' WebSocket and the admin API (SQLite or PostgreSQL).",
    ],
  },
};

/**
 * Packages a native module lists as dependencies but needs only to be built or downloaded
 * (headers, prebuilt-binary fetchers): never loaded at run time, so never copied.
 */
export const BUILD_ONLY = new Set(['prebuild-install', 'node-addon-api', 'nan', 'node-gyp']);

/** A package copied next to a bundle. */
export interface RuntimePackage {
  name: string;
  version: string;
  /** Where it is in the checkout. */
  dir: string;
  /** Where it goes below the bundle's directory: node_modules/…, nested as in the checkout. */
  out: string;
  native: boolean;
}

interface PackageJson {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

function readPackageJson(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

/** Node's lookup of package `name` from directory `from`: its node_modules, then each parent's, up to `root`. */
function findPackage(root: string, from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = join(dir, 'node_modules', ...name.split('/'));
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || relative(root, dir).startsWith('..')) return undefined;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * The packages the externals need at run time: each external and its dependencies (and the
 * optional ones that are installed), transitively, as node would find them from where they are
 * installed, without the build-only ones. Throws naming what is missing.
 */
export function runtimePackages(root: string, spec: Pick<AppSpec, 'workspace' | 'externals'>): RuntimePackage[] {
  const found = new Map<string, RuntimePackage>();
  const visit = (name: string, from: string, optional: boolean, wantedBy: string): void => {
    if (BUILD_ONLY.has(name)) return;
    const dir = findPackage(root, from, name);
    if (!dir) {
      if (optional) return;
      throw new Error(`${name} (needed by ${wantedBy}) is not installed in ${root}/node_modules: run npm ci first`);
    }
    const rel = relative(root, dir).split(sep).join('/');
    const out = rel.slice(rel.indexOf('node_modules/'));
    const seen = found.get(out);
    if (seen) {
      if (seen.dir !== dir) throw new Error(`two copies of ${name} would go to ${out}: ${seen.dir} and ${dir}`);
      return;
    }
    const pkg = readPackageJson(dir);
    found.set(out, { name, version: pkg.version ?? '?', dir, out, native: existsSync(join(dir, 'binding.gyp')) });
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, dir, false, name);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(dep, dir, true, name);
  };
  for (const name of spec.externals) visit(name, join(root, spec.workspace), false, spec.workspace);
  return [...found.values()].sort((a, b) => a.out.localeCompare(b.out));
}

/** `linux-x64`: the prebuilds of the machine building the release are the ones copied. */
export function platformTag(): string {
  return `${process.platform}-${process.arch}`;
}

/**
 * Whether a file of a package is copied (`rel`: its path inside the package, with `/`). Nested
 * node_modules are copied as packages of their own. Of a native package (one with binding.gyp)
 * only what loads at run time: not its C/C++ sources, vendored libraries or build tree, only
 * build/Release/*.node (not test_extension.node) and the prebuilds for this platform (glibc).
 */
export function keepFile(rel: string, native: boolean, tag = platformTag()): boolean {
  const parts = rel.split('/');
  const [top = '', second, third] = parts;
  if (top === 'node_modules') return false;
  if (!native) return true;
  if (['src', 'deps', 'hidapi', 'vendor', 'test', 'binding.gyp', 'Makefile', '.github'].includes(top)) return false;
  if (top === 'build') {
    if (parts.length === 1 || (parts.length === 2 && second === 'Release')) return true;
    return (
      parts.length === 3 &&
      second === 'Release' &&
      third !== undefined &&
      third.endsWith('.node') &&
      third !== 'test_extension.node'
    );
  }
  if (top === 'prebuilds' && second !== undefined) return second.includes(tag) && !second.endsWith('-musl');
  return true;
}

/** The files of a package that `keepFile` keeps, relative to the package, with `/`. */
export function packageFiles(pkg: Pick<RuntimePackage, 'dir' | 'native'>, tag = platformTag()): string[] {
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(pkg.dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      if (!keepFile(r, pkg.native, tag)) continue;
      if (entry.isDirectory()) walk(r);
      else if (entry.isFile()) files.push(r);
    }
  };
  walk('');
  return files.sort();
}

/** The native addons (`.node` files) a bundle's copied packages hold, as paths below the bundle's directory. */
export function nativeFiles(packages: RuntimePackage[], tag = platformTag()): string[] {
  return packages.flatMap((p) =>
    packageFiles(p, tag)
      .filter((f) => f.endsWith('.node'))
      .map((f) => `${p.out}/${f}`),
  );
}

/** A Debian version (what `--version` prints too): digits first, then letters, digits and `.+~-`. */
export function checkVersion(version: string): string {
  if (!/^[0-9][A-Za-z0-9.+~-]*$/.test(version)) {
    throw new Error(
      `version ${JSON.stringify(version)}: expected a version starting with a digit, of letters, digits and . + ~ - ` +
        `(e.g. 0.1.0 or 0.1.0+ci2)`,
    );
  }
  return version;
}

export interface BundleResult {
  app: AppName;
  dir: string;
  main: string;
  packages: RuntimePackage[];
  natives: string[];
}

/** The bundle's file: /opt/tillbridge/<app>/<pkg>.mjs once installed. */
export function mainFile(spec: AppSpec): string {
  return `${spec.pkg}.mjs`;
}

/**
 * Bundles one program into `outDir` (emptied first): `<pkg>.mjs` (ESM, with a shebang and the
 * version stamped in), package.json, node_modules/ with the externals, and its assets.
 */
export async function bundleApp(root: string, spec: AppSpec, version: string, outDir: string): Promise<BundleResult> {
  const { build } = await import('esbuild');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const entry = join(root, spec.entry);
  if (!existsSync(entry)) throw new Error(`${spec.entry} is missing: run npm run build first`);
  const main = join(outDir, mainFile(spec));
  await build({
    // the program's own file, and chunks/ with what a command loads when it runs (the CLIs load a
    // command's module on demand, src/cli/program.ts): --version and help do not parse the server
    entryPoints: { [spec.pkg]: entry },
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: spec.externals,
    // the CommonJS packages in the bundle call require() (node's builtins, the externals)
    banner: {
      js:
        `#!/usr/bin/env node\nimport { createRequire as __tbCreateRequire } from 'node:module';\nconst require = ` +
        `__tbCreateRequire(import.meta.url);`,
    },
    define: { __TILLBRIDGE_VERSION__: JSON.stringify(version) },
    legalComments: 'eof',
    logLevel: 'warning',
  });
  chmodSync(main, 0o755);
  writeFileSync(
    join(outDir, 'package.json'),
    `${JSON.stringify(
      { name: spec.pkg, version, private: true, type: 'module', bin: { [spec.pkg]: mainFile(spec) } },
      null,
      2,
    )}\n`,
  );
  const packages = runtimePackages(root, spec);
  for (const p of packages) {
    for (const f of packageFiles(p)) {
      const to = join(outDir, p.out, f);
      mkdirSync(dirname(to), { recursive: true });
      cpSync(join(p.dir, f), to, { preserveTimestamps: true });
    }
  }
  for (const a of spec.assets) cpSync(join(root, a.from), join(outDir, a.to), { recursive: true });
  const natives = nativeFiles(packages);
  for (const ext of spec.externals) {
    const p = packages.find((x) => x.name === ext);
    if (p?.native && !natives.some((n) => n.startsWith(`${p.out}/`)))
      throw new Error(
        `${ext} has no native addon for ${platformTag()} in ${p.dir} (build/Release/*.node or prebuilds/): was npm ` +
          `ci run on this platform?`,
      );
  }
  return { app: spec.app, dir: outDir, main, packages, natives };
}

/** Debian's name of node's architecture. */
export function debArch(arch = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf', ia32: 'i386' };
  const a = map[arch];
  if (!a) throw new Error(`no Debian architecture for ${arch}`);
  return a;
}

function duKiB(dir: string): number {
  let bytes = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else bytes += statSync(p).size;
    }
  };
  walk(dir);
  return Math.ceil(bytes / 1024);
}

export interface DebResult {
  file: string;
  pkg: string;
  version: string;
}

/** The files in installers/systemd/ that belong to this program (named after it): every one is packaged. */
export function unitFiles(root: string, spec: AppSpec): string[] {
  const dir = join(root, 'installers', 'systemd');
  return readdirSync(dir)
    .filter((f) => f.startsWith(spec.pkg) && statSync(join(dir, f)).isFile())
    .sort();
}

/**
 * Builds `<pkg>_<version>_<arch>.deb` in `outDir` from a bundle (`bundleApp`), with
 * `dpkg-deb --build --root-owner-group`. Staged in `outDir/deb/<pkg>/`.
 */
export function buildDeb(root: string, spec: AppSpec, version: string, bundleDir: string, outDir: string): DebResult {
  const stage = join(outDir, 'deb', spec.pkg);
  rmSync(stage, { recursive: true, force: true });
  const put = (path: string, text: string, mode: number): void => {
    const to = join(stage, path);
    mkdirSync(dirname(to), { recursive: true });
    writeFileSync(to, text);
    chmodSync(to, mode);
  };
  const appDir = `${INSTALL_ROOT}/${spec.app}`;
  cpSync(bundleDir, join(stage, appDir), { recursive: true, preserveTimestamps: true });
  put(
    `usr/bin/${spec.pkg}`,
    `#!/bin/sh\n# ${spec.pkg} ${version}: the bundle in ${appDir}, run by the system's node (package nodejs, >= ` +
      `20)\nexec /usr/bin/node ${appDir}/${mainFile(spec)} "$@"\n`,
    0o755,
  );
  const units = unitFiles(root, spec);
  if (units.length === 0) throw new Error(`installers/systemd/ has no unit for ${spec.pkg}`);
  for (const u of units)
    put(`lib/systemd/system/${u}`, readFileSync(join(root, 'installers', 'systemd', u), 'utf8'), 0o644);
  const conffiles = [spec.config.to];
  // the config may hold secrets (the store's API key, a database password): root and the tillbridge group only
  // (postinst)
  put(spec.config.to.slice(1), readFileSync(join(root, spec.config.from), 'utf8'), 0o640);
  if (spec.app === 'agent') {
    for (const rules of readdirSync(join(root, 'installers', 'udev'))) {
      put(`etc/udev/rules.d/${rules}`, readFileSync(join(root, 'installers', 'udev', rules), 'utf8'), 0o644);
      conffiles.push(`/etc/udev/rules.d/${rules}`);
    }
  }
  put(
    `usr/share/doc/${spec.pkg}/README`,
    `${spec.description[0]} ${version}.\nInstalled in ${appDir}; config ${spec.config.to}; data ` +
      `${spec.dataDir}.\nSee docs/install.md in the Tillbridge repository.\n`,
    0o644,
  );

  const other = spec.app === 'agent' ? APPS.hub : APPS.agent;
  const vars: Record<string, string> = {
    PKG: spec.pkg,
    OTHER_PKG: other.pkg,
    DATA_DIR: spec.dataDir,
    CONFIG: spec.config.to,
    UNITS: units.filter((u) => u.endsWith('.service')).join(' '),
    UDEV: spec.app === 'agent' ? '1' : '',
  };
  for (const script of ['postinst', 'prerm', 'postrm']) {
    const text = readFileSync(join(root, 'packaging', 'debian', script), 'utf8').replace(
      /@([A-Z_]+)@/g,
      (m, k: string) => {
        const v = vars[k];
        if (v === undefined) throw new Error(`packaging/debian/${script}: unknown placeholder ${m}`);
        return v;
      },
    );
    put(`DEBIAN/${script}`, text, 0o755);
  }
  put('DEBIAN/conffiles', `${conffiles.join('\n')}\n`, 0o644);
  const arch = debArch();
  const control = [
    `Package: ${spec.pkg}`,
    `Version: ${version}`,
    `Architecture: ${arch}`,
    'Maintainer: Tillbridge <ops@tillbridge.example>',
    'Section: net',
    'Priority: optional',
    `Installed-Size: ${duKiB(stage)}`,
    `Depends: nodejs (>= 20), adduser, ${spec.depends.join(', ')}`,
    ...(spec.recommends.length ? [`Recommends: ${spec.recommends.join(', ')}`] : []),
    'Homepage: https://tillbridge.example',
    `Description: ${spec.description[0]}`,
    ...spec.description.slice(1).map((l) => ` ${l}`),
  ];
  put('DEBIAN/control', `${control.join('\n')}\n`, 0o644);
  const file = join(outDir, `${spec.pkg}_${version}_${arch}.deb`);
  rmSync(file, { force: true });
  const r = spawnSync('dpkg-deb', ['--build', '--root-owner-group', stage, file], { encoding: 'utf8' });
  if (r.error) throw new Error(`dpkg-deb: ${r.error.message} (install dpkg, or run with --no-deb)`);
  if (r.status !== 0) throw new Error(`dpkg-deb --build failed for ${spec.pkg}:\n${r.stderr}${r.stdout}`);
  return { file, pkg: spec.pkg, version };
}

/**
 * The Windows bundle (docs/install-windows.md): the agent's bundle plus WinSW and the deployment
 * script, at the paths installers/windows/Install-Tillbridge.ps1 looks for (relative to the bundle, `/`).
 */
export const WINDOWS_LAYOUT = {
  winsw: 'service/winsw.exe',
  /**
   * WinSW 1.x is a .NET 2.0 program: its .exe.config lets it run on .NET 4 (Windows 10/11 have no .NET 2/3.5 by
   * default).
   */
  winswConfig: 'service/winsw.exe.config',
  notice: 'service/WINSW-NOTICE.txt',
  script: 'Install-Tillbridge.ps1',
} as const;

/** Where WinSW's executable comes from: the node-windows package (a root devDependency carrying it, nothing else). */
export const WINSW_CARRIER = {
  pkg: 'node-windows',
  exe: 'bin/winsw/winsw.exe',
  config: 'bin/winsw/winsw.exe.config',
  license: 'LICENSE',
} as const;

export interface WinswSource {
  pkgDir: string;
  pkgVersion: string;
  exe: string;
  config?: string;
  license?: string;
  /** From the executable's version resource (FileVersion, LegalCopyright), when found. */
  fileVersion?: string;
  copyright?: string;
  sha256: string;
}

/** A string value of a PE's version resource (UTF-16LE `Key\0…Value\0`), or undefined. */
export function peVersionString(exe: Buffer, key: string): string | undefined {
  const text = exe.toString('utf16le');
  const at = text.indexOf(`${key}\0`);
  if (at < 0) return undefined;
  const m = /^\0*([^\0]+)\0/.exec(text.slice(at + key.length + 1));
  const value = m?.[1]?.trim();
  return value === '' ? undefined : value;
}

/** WinSW from node_modules/node-windows; throws saying what to do when it is missing or not a Windows executable. */
export function findWinsw(root: string): WinswSource {
  const pkgDir = join(root, 'node_modules', WINSW_CARRIER.pkg);
  const exe = join(pkgDir, ...WINSW_CARRIER.exe.split('/'));
  if (!existsSync(exe)) {
    throw new Error(
      `WinSW is missing: ${relative(root, exe)} does not exist (node-windows, a devDependency, carries it): run npm ci`,
    );
  }
  const bytes = readFileSync(exe);
  if (bytes.length < 64 || bytes.toString('latin1', 0, 2) !== 'MZ')
    throw new Error(`${relative(root, exe)}: expected a Windows executable (starting with "MZ")`);
  const config = join(pkgDir, ...WINSW_CARRIER.config.split('/'));
  const license = join(pkgDir, WINSW_CARRIER.license);
  return {
    pkgDir,
    pkgVersion: readPackageJson(pkgDir).version ?? '?',
    exe,
    config: existsSync(config) ? config : undefined,
    license: existsSync(license) ? license : undefined,
    fileVersion: peVersionString(bytes, 'FileVersion'),
    copyright: peVersionString(bytes, 'LegalCopyright'),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

export interface WindowsLayoutResult {
  winsw: WinswSource;
  /** What was added to the bundle, relative to it, with `/`. */
  files: string[];
}

/**
 * Adds WinSW (service/winsw.exe, its .exe.config, a notice of where it came from and its licence)
 * and installers/windows/Install-Tillbridge.ps1 to an agent bundle (`bundleApp`). The native
 * modules in the bundle are whatever `bundleApp` copied: a Windows bundle only when built on Windows.
 */
export function windowsLayout(root: string, bundleDir: string): WindowsLayoutResult {
  const winsw = findWinsw(root);
  const files: string[] = [];
  const put = (rel: string, from: string): void => {
    const to = join(bundleDir, ...rel.split('/'));
    mkdirSync(dirname(to), { recursive: true });
    cpSync(from, to);
    files.push(rel);
  };
  put(WINDOWS_LAYOUT.winsw, winsw.exe);
  if (winsw.config) put(WINDOWS_LAYOUT.winswConfig, winsw.config);
  const notice = [
    `service/winsw.exe is WinSW, the Windows Service Wrapper (https://github.com/winsw/winsw), MIT licence.`,
    `Version (its FileVersion): ${winsw.fileVersion ?? 'not found in the executable'}.`,
    ...(winsw.copyright ? [`Its LegalCopyright: ${winsw.copyright.replace(/\.$/, '')}.`] : []),
    `SHA-256: ${winsw.sha256}.`,
    '',
    `Taken unchanged from the npm package ${WINSW_CARRIER.pkg} ${winsw.pkgVersion} (${WINSW_CARRIER.exe}, with ` +
      `${WINSW_CARRIER.config}),`,
    "which ships no licence file of WinSW's own; WinSW's licence text is at https://github.com/winsw/winsw " +
      '(LICENSE.txt).',
    ...(winsw.license
      ? [
          '',
          `The licence file of ${WINSW_CARRIER.pkg} (it states that winsw is distributed under an MIT licence) ` +
            `follows.`,
          '',
          readFileSync(winsw.license, 'utf8').trimEnd(),
        ]
      : []),
    '',
  ].join('\n');
  const noticeFile = join(bundleDir, ...WINDOWS_LAYOUT.notice.split('/'));
  mkdirSync(dirname(noticeFile), { recursive: true });
  writeFileSync(noticeFile, notice);
  files.push(WINDOWS_LAYOUT.notice);
  put(WINDOWS_LAYOUT.script, join(root, 'installers', 'windows', 'Install-Tillbridge.ps1'));
  return { winsw, files };
}

/** The Windows bundle's zip name. */
export function windowsZipName(version: string, arch = process.arch): string {
  return `tillbridge-agent-${version}-win-${arch}.zip`;
}

/**
 * Zips a bundle's contents (on Windows: the tar.exe Windows 10 1803+ ships writes zip with -a).
 * Not run by the project (no Windows here).
 */
export function zipBundle(bundleDir: string, file: string): void {
  rmSync(file, { force: true });
  const r = spawnSync('tar', ['-a', '-c', '-f', file, '-C', bundleDir, '.'], { encoding: 'utf8' });
  if (r.error) throw new Error(`tar: ${r.error.message} (Windows 10 1803 or later ships tar.exe)`);
  if (r.status !== 0) throw new Error(`tar -a -c -f ${file} failed:\n${r.stderr}${r.stdout}`);
}
