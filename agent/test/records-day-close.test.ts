import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@tillbridge/shared';
import { DelimitedCodec, loadProfile } from '../src/gateway/codecs/records/index.js';
import { toCanonical } from '../src/gateway/canonical.js';
import type { Outbox } from '../src/sync/outbox.js';
import type { StoreCore } from '../src/core/store-core.js';
import { expectedDayClose, SETTLED_DAY } from './support/day-close.js';
import { closeTempDb, dayCloseEvents, offlineHub, openTempStore, type TempStore } from './support/temp-store.js';

/**
 * A legacy register's Z report as a record: the shipped ACME ECR-400 profile with the `Z` record
 * docs/legacy-profiles.md shows (read from the page), the real delimited codec and gateway
 * validation, into a real store core: one `day.close` event.
 */
const DOC = readFileSync(new URL('../../docs/legacy-profiles.md', import.meta.url), 'utf8');
const json = (marker: string): unknown => {
  const m = new RegExp(`<!-- ${marker} -->\\s*\`\`\`(?:json)?\\n([\\s\\S]*?)\\n\`\`\``).exec(DOC);
  if (!m) throw new Error(`docs/legacy-profiles.md has no block marked "${marker}"`);
  return JSON.parse(m[1]!);
};
const log = createLogger({ name: 'test', level: 'silent' });

const acme = JSON.parse(
  readFileSync(new URL('../../installers/profiles/acme-ecr-400-delimited.json', import.meta.url), 'utf8'),
) as { request: { messages: Record<string, unknown> } };
acme.request.messages.Z = json('record: acme-z');
const codec = new DelimitedCodec(loadProfile(acme));

let store: TempStore;
let outbox: Outbox;
let core: StoreCore;
beforeEach(() => {
  store = openTempStore('tb-records-close-', offlineHub, log, { now: () => Date.parse('2026-11-27T20:00:00Z') });
  ({ outbox, core } = store);
});
afterEach(() => closeTempDb(store));

/** A frame through the codec, the gateway's validation and the core; the encoded reply. */
async function send(frame: string): Promise<string> {
  const r = codec.decode(Buffer.from(frame, 'latin1'));
  if (r.kind !== 'messages')
    return codec.encode([{ type: 'error', code: r.code, message: r.message }]).toString('latin1');
  const replies = [];
  for (const m of r.messages) {
    const c = toCanonical(structuredClone(m));
    replies.push(
      c.ok
        ? await core.handle('R7', c.message)
        : { type: 'error' as const, ...(c.id !== undefined ? { id: c.id } : {}), code: c.code, message: c.message },
    );
  }
  return codec.encode(replies, r.context).toString('latin1');
}

describe('a Z record in a legacy profile', () => {
  it(
    'decodes to the day.close the page shows, is acked, ' +
      'and becomes one day.close event with the receipts forwarded that day',
    async () => {
      const frame = json('frame: acme-z') as string;
      const r = codec.decode(Buffer.from(frame, 'latin1'));
      expect(r.kind === 'messages' && r.messages).toEqual([json('canonical: acme-z')]);
      const c = toCanonical(structuredClone(json('canonical: acme-z')));
      expect(c.ok && c.message.type).toBe('day.close');

      expect(await send('S|000123|0001-000123|20261127|1015|EUR|1|TEE-BLUE-M|2000|1000|1|01|2000|')).toBe('A|000123');
      expect(await send(frame)).toBe('A|000200');
      const closes = dayCloseEvents(outbox);
      expect(closes).toHaveLength(1);
      const day = { businessDay: '2026-11-27', closedAt: '2026-11-27T20:00:00.000Z' };
      expect(closes[0]!.body).toEqual(expectedDayClose('000200', 'register', day, SETTLED_DAY, ['0001-000123']));
    },
  );

  it(
    'refuses a Z record whose day is no date, ' + 'or whose count is negative, naming the field; nothing is queued',
    async () => {
      const badDay = await send('Z|000201|20261345|0002|000002500|0001|000001000|0');
      expect(badDay).toMatch(/^E\|\|11\|record 1 \(Z\), businessDay/); // refused by the codec, before it has an id
      expect(badDay).toContain('businessDay');
      const negative = await send('Z|000202|20261127|-0002|000002500|0001|000001000|0');
      expect(negative).toMatch(/^E\|000202\|11\|/);
      expect(negative).toContain('sales.count');
      expect(await send('Q|000203|0|')).toBe('A|000203'); // the register carries on
      expect(outbox.after(0, 10)).toEqual([]);
    },
  );
});
