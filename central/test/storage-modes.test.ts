import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initHub } from '../src/hub.js';
import { openHub } from '../src/hub-services.js';
import { silent } from './helpers.js';
import { fileModes, usualUmaskForEachTest } from '../../test/support/file-modes.js';
import { tempDirForEachTest } from '../../test/support/temp-dir.js';

let root: string;
tempDirForEachTest('tb-hub-modes-', (d) => (root = d));
usualUmaskForEachTest();

describe.runIf(process.platform !== 'win32')("the hub's files", () => {
  it(
    'are all 0600 — hub.sqlite, -wal, -shm, hub.secret, the audit signing key — ' +
      'in a data directory that already exists at 0755',
    () => {
      const dir = join(root, 'hub');
      mkdirSync(dir);
      chmodSync(dir, 0o755);
      initHub(dir, silent);
      const hub = openHub({ dataDir: dir, tokenLifetimeSec: 900, log: silent });
      hub.storage.tx(() => hub.stores.create('S1', 'S1'));
      hub.auditTrail.checkpoints.create('test'); // makes the signing key
      const m = fileModes(dir);
      expect(Object.keys(m).sort()).toEqual([
        'audit-signing-key.pem',
        'hub.secret',
        'hub.sqlite',
        'hub.sqlite-shm',
        'hub.sqlite-wal',
      ]);
      for (const [f, mode] of Object.entries(m)) expect(mode, f).toBe('600');
      hub.close();
    },
  );

  it('refuses a data directory others may write, before writing anything', () => {
    const dir = join(root, 'open');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    expect(() => initHub(dir, silent)).toThrow(
      expect.objectContaining({ code: 'TB_CONFIG', message: expect.stringContaining('writable by group or others') }),
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});
