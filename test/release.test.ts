import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '@tillbridge/scripts/lib/paths';
import {
  APPS,
  BUILD_ONLY,
  checkVersion,
  findWinsw,
  keepFile,
  mainFile,
  nativeFiles,
  runtimePackages,
  unitFiles,
  WINDOWS_LAYOUT,
  windowsLayout,
  windowsZipName,
} from '@tillbridge/scripts/lib/release';

// What `npm run release` copies next to each bundle, worked out from this checkout's node_modules
// (nothing is bundled or built here; .ci/package-test builds, installs and runs the packages).
describe('npm run release: what goes outside the bundles', () => {
  it(
    "the agent's bundle gets the native addons it loads: " +
      "better-sqlite3's build, serialport's and node-hid's prebuilds",
    () => {
      const natives = nativeFiles(runtimePackages(ROOT, APPS.agent), 'linux-x64');
      expect(natives).toContain('node_modules/better-sqlite3/build/Release/better_sqlite3.node');
      expect(natives).toContain(
        'node_modules/@serialport/bindings-cpp/prebuilds/linux-x64/@serialport+bindings-cpp.glibc.node',
      );
      expect(natives).toContain('node_modules/node-hid/prebuilds/HID_hidraw-linux-x64/node-napi-v4.node');
      // not better-sqlite3's test extension, nor other platforms' prebuilds
      expect(natives.filter((f) => /test_extension|win32|darwin|-musl\//.test(f))).toEqual([]);
      for (const f of natives) expect(existsSync(join(ROOT, f)), f).toBe(true);
    },
  );

  it("the hub's gets better-sqlite3 and libpq (pg-native), with what they require at run time", () => {
    const packages = runtimePackages(ROOT, APPS.hub);
    expect(nativeFiles(packages, 'linux-x64')).toEqual([
      'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
      'node_modules/libpq/build/Release/addon.node',
    ]);
    const names = packages.map((p) => p.name);
    for (const needed of ['bindings', 'file-uri-to-path', 'libpq', 'pg-types']) expect(names).toContain(needed);
  });

  it('leaves out what only builds or downloads a native module', () => {
    for (const app of [APPS.agent, APPS.hub]) {
      const names = runtimePackages(ROOT, app).map((p) => p.name);
      expect(names.filter((n) => BUILD_ONLY.has(n))).toEqual([]);
    }
  });

  it("keeps a native package's runtime files only; every file of a plain one", () => {
    expect(keepFile('lib/database.js', true)).toBe(true);
    expect(keepFile('build/Release/better_sqlite3.node', true)).toBe(true);
    expect(keepFile('build/Release/test_extension.node', true)).toBe(false);
    expect(keepFile('build/Release/obj.target/x.o', true)).toBe(false);
    expect(keepFile('deps/sqlite3/sqlite3.c', true)).toBe(false);
    expect(keepFile('src/better_sqlite3.cpp', true)).toBe(false);
    expect(keepFile('prebuilds/HID-linux-x64-musl/node-napi-v4.node', true, 'linux-x64')).toBe(false);
    expect(keepFile('prebuilds/HID-win32-x64/node-napi-v4.node', true, 'linux-x64')).toBe(false);
    expect(keepFile('src/index.js', false)).toBe(true);
    expect(keepFile('node_modules/debug/package.json', false)).toBe(false);
  });

  it('packages every systemd unit of installers/systemd under its program', () => {
    expect(unitFiles(ROOT, APPS.agent)).toContain('tillbridge-agent.service');
    expect(unitFiles(ROOT, APPS.hub)).toContain('tillbridge-hub.service');
  });

  it('takes a Debian version, and names what is wrong with another', () => {
    expect(checkVersion('0.1.0+ci2')).toBe('0.1.0+ci2');
    expect(() => checkVersion('v0.1.0')).toThrow(/version "v0.1.0": expected a version starting with a digit/);
    expect(() => checkVersion('0.1.0 beta')).toThrow(/expected/);
  });
});

// The Windows bundle's layout, built here on Linux into a temp dir (its native modules would be
// Linux's: only a build on Windows makes a Windows bundle; that was not done here).
describe('npm run release -- --windows: the layout Install-Tillbridge.ps1 expects', () => {
  const script = readFileSync(join(ROOT, 'installers', 'windows', 'Install-Tillbridge.ps1'), 'utf8');
  /** The paths the script looks for under -Source, read out of its text (Windows `\\` → `/`). */
  const scriptPaths = (): { cli: string; winsw: string } => {
    const cli = /\$cliRelative = @\('([^']+)'/.exec(script)?.[1];
    const winsw = /\$winswInSource = Join-Path \$Source '([^']+)'/.exec(script)?.[1];
    if (!cli || !winsw)
      throw new Error('Install-Tillbridge.ps1: the $cliRelative / $winswInSource lines were not found');
    return { cli: cli.replaceAll('\\', '/'), winsw: winsw.replaceAll('\\', '/') };
  };

  it(
    'puts WinSW (a Windows executable), its licence notice and the ' +
      "script where the script looks, beside the agent's bundle file",
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'tb-win-layout-'));
      try {
        const { files, winsw } = windowsLayout(ROOT, dir);
        const paths = scriptPaths();
        // the script's relative paths are exactly the bundle's: its main file at the root, WinSW under service/
        expect(paths.cli).toBe(mainFile(APPS.agent));
        expect(paths.winsw).toBe(WINDOWS_LAYOUT.winsw);
        const exe = readFileSync(join(dir, ...paths.winsw.split('/')));
        expect(exe.toString('latin1', 0, 2)).toBe('MZ');
        expect(exe.equals(readFileSync(winsw.exe))).toBe(true);
        expect(existsSync(join(dir, WINDOWS_LAYOUT.script))).toBe(true);
        expect(readFileSync(join(dir, WINDOWS_LAYOUT.script), 'utf8')).toBe(script);
        expect(files).toEqual([
          WINDOWS_LAYOUT.winsw,
          WINDOWS_LAYOUT.winswConfig,
          WINDOWS_LAYOUT.notice,
          WINDOWS_LAYOUT.script,
        ]);
        // the script copies the .exe.config WinSW 1.x needs from where the layout puts it
        expect(script).toContain(`Join-Path $InstallDir '${WINDOWS_LAYOUT.winswConfig.replaceAll('/', '\\')}'`);
        const notice = readFileSync(join(dir, WINDOWS_LAYOUT.notice), 'utf8');
        expect(notice).toContain('MIT');
        expect(notice).toContain(`node-windows ${winsw.pkgVersion}`);
        expect(notice).toContain(winsw.sha256);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('takes WinSW from the pinned node-windows, and says which WinSW it is', () => {
    const w = findWinsw(ROOT);
    const pinned = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
    ).devDependencies['node-windows'];
    expect(w.pkgVersion).toBe(pinned);
    expect(w.fileVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(w.config).toBeDefined();
  });

  it('refuses, saying what to do, when node-windows (and so WinSW) is not installed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-win-nowinsw-'));
    try {
      expect(() => windowsLayout(dir, join(dir, 'bundle'))).toThrow(
        /WinSW is missing: node_modules\/node-windows\/bin\/winsw\/winsw.exe does not exist .*run npm ci/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the zip after the version and the architecture', () => {
    expect(windowsZipName('0.2.0', 'x64')).toBe('tillbridge-agent-0.2.0-win-x64.zip');
  });
});
