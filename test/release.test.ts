import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '@tillbridge/scripts/lib/paths';
import { APPS, BUILD_ONLY, checkVersion, keepFile, nativeFiles, runtimePackages, unitFiles } from '@tillbridge/scripts/lib/release';

// What `npm run release` copies next to each bundle, worked out from this checkout's node_modules
// (nothing is bundled or built here; .ci/package-test builds, installs and runs the packages).
describe('npm run release: what goes outside the bundles', () => {
  it("the agent's bundle gets the native addons it loads: better-sqlite3's build, serialport's and node-hid's prebuilds", () => {
    const natives = nativeFiles(runtimePackages(ROOT, APPS.agent), 'linux-x64');
    expect(natives).toContain('node_modules/better-sqlite3/build/Release/better_sqlite3.node');
    expect(natives).toContain('node_modules/@serialport/bindings-cpp/prebuilds/linux-x64/@serialport+bindings-cpp.glibc.node');
    expect(natives).toContain('node_modules/node-hid/prebuilds/HID_hidraw-linux-x64/node-napi-v4.node');
    // not better-sqlite3's test extension, nor other platforms' prebuilds
    expect(natives.filter((f) => /test_extension|win32|darwin|-musl\//.test(f))).toEqual([]);
    for (const f of natives) expect(existsSync(join(ROOT, f)), f).toBe(true);
  });

  it("the hub's gets better-sqlite3 and libpq (pg-native), with what they require at run time", () => {
    const packages = runtimePackages(ROOT, APPS.hub);
    expect(nativeFiles(packages, 'linux-x64')).toEqual(['node_modules/better-sqlite3/build/Release/better_sqlite3.node', 'node_modules/libpq/build/Release/addon.node']);
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
