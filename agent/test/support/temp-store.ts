import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DayCloseEventBody, type Logger } from '@tillbridge/shared';
import { openAgentDb, type Db } from '../../src/db/agent-db.js';
import { Outbox } from '../../src/sync/outbox.js';
import type { StoreCore } from '../../src/core/store-core.js';
import type { StoreCoreDeps } from '../../src/core/core-context.js';
import type { HubAuthorizer } from '../../src/sync/hub-link.js';
import { storeCoreOn } from '../store-core-fixture.js';

/** A hub link that is down: every call refused, as the store core sees an unreachable hub. */
export const offlineHub: HubAuthorizer = {
  connected: false,
  authorize: () => Promise.reject(new Error('offline')),
  lookupReceipt: () => Promise.reject(new Error('offline')),
  override: () => Promise.reject(new Error('offline')),
};

/** A store core on a real agent database in a folder of its own, with the outbox it writes to. */
export interface TempStore {
  dir: string;
  db: Db;
  outbox: Outbox;
  core: StoreCore;
  deps: StoreCoreDeps;
}

export interface TempStoreOptions {
  /** the store's clock: the core's and the outbox's */
  now: () => number;
  /** the store's time zone, as the outbox's journal reads it (UTC when not given) */
  zone?: () => string;
  /** the folder to open (a restart); a new temporary one named after `prefix` when not given */
  dir?: string;
  /** parts of the core a test supplies itself, made on the database just opened */
  over?: (db: Db) => Partial<StoreCoreDeps>;
}

/** Opens a real agent database in a new temporary folder whose name starts with `prefix`. */
export function openTempDb(prefix: string): { dir: string; db: Db } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, db: openAgentDb(dir) };
}

/**
 * Opens a real agent database (store S1) in a new temporary folder whose name starts with `prefix`,
 * with an outbox and a store core on the given clock and hub double. Close it with {@link closeTempDb}.
 */
export function openTempStore(prefix: string, hub: HubAuthorizer, log: Logger, opts: TempStoreOptions): TempStore {
  const { dir, db } = opts.dir !== undefined ? { dir: opts.dir, db: openAgentDb(opts.dir) } : openTempDb(prefix);
  const outbox = new Outbox(db, opts.now, opts.zone);
  const { core, deps } = storeCoreOn(db, hub, log, { outbox, now: opts.now, ...opts.over?.(db) });
  return { dir, db, outbox, core, deps };
}

/** The day.close events in an outbox, oldest first: the register of each and its body, read by the event's schema. */
export function dayCloseEvents(
  outbox: Outbox,
): { register: string; body: ReturnType<typeof DayCloseEventBody.parse> }[] {
  return outbox
    .after(0, 1000)
    .filter((r) => r.kind === 'day.close')
    .map((r) => ({ register: r.register, body: DayCloseEventBody.parse(JSON.parse(r.body)) }));
}

/** Closes the database of {@link openTempDb} or {@link openTempStore} and removes its folder. */
export function closeTempDb(store: { db: Db; dir: string }): void {
  store.db.close();
  rmSync(store.dir, { recursive: true, force: true });
}
