import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getMeta, openAgentDb, setMeta, type Db } from '../src/db/agent-db.js';
import { MetaSecrets } from '../src/db/meta-secrets.js';
import { ApiKeyStore } from '../src/sync/api-key-store.js';

const CONFIG_KEY = 'tbk_0123456789abcdefghjkmnpqrstvwxyz0123456_abcdef';
const ROTATED = 'tbk_zyxwvtsrqpnmkjhgfedcba9876543210zyxwvtsr_fedcba';
const CARD_KEY = randomBytes(32).toString('base64url');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-meta-secrets-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Every byte of every file in the data directory (the database, its WAL, anything else), as text. */
const bytesOnDisk = (): string =>
  readdirSync(dir)
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('\n');
const cardKeyForms = [
  CARD_KEY,
  Buffer.from(CARD_KEY, 'base64url').toString('latin1'),
  Buffer.from(CARD_KEY, 'base64url').toString('hex'),
];

/** Neither the API key nor the card key, in any of its forms, is in any file of the data directory. */
function expectNoClearSecretOnDisk(): void {
  const disk = bytesOnDisk();
  expect(disk).not.toContain(ROTATED);
  for (const f of cardKeyForms) expect(disk).not.toContain(f);
}

/** Both secrets read back through `secrets` on `db`: the API key, by its store, and the card key. */
function expectBothReadBack(db: Db, secrets: MetaSecrets): void {
  expect(new ApiKeyStore(db, secrets).current()).toBe(ROTATED);
  expect(secrets.get('card_key')).toBe(CARD_KEY);
}

describe("secrets in the agent's meta table", () => {
  it(
    'are sealed: neither the API key nor the card key is anywhere in the files, ' +
      'and both read back with the config key',
    () => {
      const db = openAgentDb(dir);
      const secrets = new MetaSecrets(db, CONFIG_KEY);
      new ApiKeyStore(db, secrets).store('tbk_zyxwvtsr', ROTATED);
      secrets.set('card_key', CARD_KEY);
      db.close();
      expect(bytesOnDisk()).toContain('sealed:v1:'); // the scan reads what was written
      expectNoClearSecretOnDisk();

      const again = openAgentDb(dir);
      expectBothReadBack(again, new MetaSecrets(again, CONFIG_KEY));
      again.close();
    },
  );

  it(
    'left in clear by an older version, ' +
      'are sealed on start and their clear bytes are gone from the database and its WAL',
    () => {
      const db = openAgentDb(dir);
      // what an older agent wrote
      setMeta(
        db,
        'api_key',
        JSON.stringify({ id: 'tbk_zyxwvtsr', secret: ROTATED, storedAt: '2026-11-27T10:00:00.000Z' }),
      );
      setMeta(db, 'card_key', CARD_KEY);
      db.pragma('wal_checkpoint(PASSIVE)'); // some of it in the database file, some still in the WAL
      setMeta(db, 'card_key', CARD_KEY);
      expect(bytesOnDisk()).toContain(ROTATED); // the test can see a clear key when there is one
      const secrets = new MetaSecrets(db, CONFIG_KEY);
      expect(secrets.sealClearValues()).toBe(2);
      expect(secrets.sealClearValues()).toBe(0);
      expect(getMeta(db, 'api_key')).toMatch(/^sealed:v1:/);
      expectNoClearSecretOnDisk();
      expectBothReadBack(db, secrets);
      db.close();
    },
  );

  it(
    'sealed under another config key (the key in the config file was replaced) read as absent: ' +
      'the config key is used',
    () => {
      const db = openAgentDb(dir);
      new ApiKeyStore(db, new MetaSecrets(db, CONFIG_KEY)).store('tbk_zyxwvtsr', ROTATED);
      const other = new MetaSecrets(db, 'tbk_another_key_pasted_into_the_config_file_aaaaaa');
      expect(new ApiKeyStore(db, other).current()).toBeUndefined();
      expect(other.get('card_key')).toBeUndefined();
      // a value sealed for one row does not open as another
      setMeta(db, 'card_key', getMeta(db, 'api_key')!);
      expect(new MetaSecrets(db, CONFIG_KEY).get('card_key')).toBeUndefined();
      db.close();
    },
  );
});
