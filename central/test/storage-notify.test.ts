import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testBackend, type TestDatabase } from '@tillbridge/scripts/lib/pg-test-db';
import { openHubStorage, type HubStorage } from '../src/storage/index.js';
import { MAX_NOTIFY_PAYLOAD_BYTES, type Listener } from '../src/storage/notify.js';
import { waitFor } from '@tillbridge/scripts/lib/wait';

/**
 * The storage's listen/notify (`HubStorage.notifier`), on the engine under test: a message sent
 * in a transaction leaves with its commit and never with a rollback; on PostgreSQL another
 * storage on the same database (another hub process) hears it too. Waits poll; none is timed.
 */

const pg = testBackend() === 'postgres';
let tdb: TestDatabase | undefined;
const dirs: string[] = [];
const storages: HubStorage[] = [];
const listeners: Listener[] = [];

afterEach(async () => {
  for (const l of listeners.splice(0)) await l.close();
  for (const s of storages.splice(0)) s.close();
  tdb?.drop();
  tdb = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(): HubStorage {
  const dir = mkdtempSync(join(tmpdir(), 'tb-notify-'));
  dirs.push(dir);
  if (pg) tdb ??= createTestDatabase('tb_notify');
  const s = openHubStorage(dir, { create: true, database: tdb?.url });
  storages.push(s);
  return s;
}

async function hear(s: HubStorage, channel: string): Promise<string[]> {
  const heard: string[] = [];
  const l = s.notifier.listen(channel, (p) => heard.push(p));
  listeners.push(l);
  await l.ready;
  expect(l.listening).toBe(true);
  return heard;
}

describe(`the storage's notifier (${pg ? 'PostgreSQL' : 'SQLite'})`, () => {
  it('sends with the commit, never with a rollback; outside a transaction, at once', async () => {
    const s = open();
    expect(s.notifier.shared).toBe(pg);
    const heard = await hear(s, 'tb_test');
    const other = await hear(s, 'tb_other');
    s.tx(() => {
      s.notifier.notify('tb_test', 'one');
      // not before the commit
      expect(heard).toEqual([]);
    });
    expect(() =>
      s.tx(() => {
        s.notifier.notify('tb_test', 'rolled back');
        throw new Error('no');
      }),
    ).toThrow('no');
    s.tx(() =>
      s.savepoint(() => {
        s.notifier.notify('tb_test', 'two');
      }),
    );
    s.notifier.notify('tb_test', 'three');
    await waitFor('three messages', () => heard.length >= 3);
    s.notifier.notify('tb_test', 'last');
    await waitFor('the last message', () => heard.includes('last'));
    expect(heard).toEqual(['one', 'two', 'three', 'last']);
    expect(other).toEqual([]);
  });

  it('refuses a channel that is not an identifier, naming it', () => {
    const s = open();
    expect(() => s.notifier.notify('tb; DROP TABLE x', 'p')).toThrow(/notify channel "tb; DROP TABLE x"/);
    expect(() => s.notifier.listen('Bad-Name', () => undefined)).toThrow(/notify channel "Bad-Name"/);
  });

  it.runIf(pg)(
    'on PostgreSQL: another storage on the database hears it; ' +
      'a payload too big for NOTIFY is refused and fails the transaction',
    async () => {
      const a = open();
      const b = open();
      const heardByB = await hear(b, 'tb_test');
      a.tx(() => a.notifier.notify('tb_test', 'from a'));
      await waitFor('B hears A', () => heardByB.length === 1);
      expect(heardByB).toEqual(['from a']);
      expect(() => a.tx(() => a.notifier.notify('tb_test', 'x'.repeat(MAX_NOTIFY_PAYLOAD_BYTES + 1)))).toThrow(
        /over the 7900 a NOTIFY carries/,
      );
    },
  );

  it('a listener closed hears nothing more', async () => {
    const s = open();
    const heard: string[] = [];
    const l = s.notifier.listen('tb_test', (p) => heard.push(p));
    await l.ready;
    await l.close();
    expect(l.listening).toBe(false);
    const still = await hear(s, 'tb_test');
    s.tx(() => s.notifier.notify('tb_test', 'after'));
    await waitFor('the open listener hears it', () => still.length === 1);
    expect(heard).toEqual([]);
  });
});
