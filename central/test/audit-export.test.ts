import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { TbCodes } from '@tillbridge/shared';
import { AuditTrail } from '../src/audit/trail.js';
import { EXPORT_FIELDS, type ExportedEntry } from '../src/audit/entry.js';
import { entryHash } from '../src/domain/audit-log.js';
import { CSV_HEADER, csvField, formatEntry, type ExportFormat } from '../src/audit/export-format.js';
import { readExport } from '../src/audit/export-read.js';
import { payloadOf, type CheckpointFile } from '../src/audit/checkpoint-file.js';
import { fingerprintOf } from '../src/audit/signing-key.js';
import { verifyFiles } from '../src/audit/verify-export.js';
import { silent, testHub } from './helpers.js';
import { appendEntries } from './audit-support.js';

let t: ReturnType<typeof testHub>;
let trail: AuditTrail;
let out: string;

const appendMany = (n: number): void =>
  appendEntries(t.hub, n, (i) => ({
    actor: 'admin:test',
    action: 'thing.do',
    outcome: 'ok',
    store: 'S1',
    register: 'R1',
    resource: `thing:${i}`,
    details: { i },
  }));

function exportText(format: ExportFormat): string {
  let s = format === 'csv' ? CSV_HEADER : '';
  for (const e of trail.query.iterate()) s += formatEntry(e, format);
  return s;
}

async function readAll(text: string): Promise<ExportedEntry[]> {
  const es: ExportedEntry[] = [];
  for await (const r of readExport(Readable.from([Buffer.from(text)]))) {
    if ('error' in r) throw new Error(r.error);
    es.push(r.entry);
  }
  return es;
}

/** Writes the checkpoint file and the export to a temp dir; verifies with nothing but those files. */
async function verifyWith(
  cp: CheckpointFile,
  exportBody: string,
  ext = 'jsonl',
  trust: { fingerprint?: string; publicKeyPem?: string } = {},
) {
  const cpFile = join(out, 'cp.json');
  const exFile = join(out, `audit.${ext}`);
  writeFileSync(cpFile, JSON.stringify(cp, null, 2));
  writeFileSync(exFile, exportBody);
  return verifyFiles({ checkpoint: cpFile, export: exFile, ...trust });
}

beforeEach(() => {
  t = testHub();
  trail = new AuditTrail(t.hub.storage, t.hub.audit, t.clock, { dataDir: t.dir }, silent);
  out = mkdtempSync(join(tmpdir(), 'tb-audit-out-'));
});
afterEach(() => {
  t.cleanup();
  rmSync(out, { recursive: true, force: true });
});

describe('audit export formats', () => {
  const tricky = 'a, "quoted" value\nwith a newline, and\r\na CRLF';

  beforeEach(() => {
    t.hub.audit.append({
      actor: tricky,
      action: 'odd.values',
      outcome: 'ok',
      store: null,
      register: '',
      resource: tricky,
      details: { note: tricky },
    });
    appendMany(3);
  });

  it('CSV: quotes what needs it, keeps null apart from "", and reads back byte for byte', async () => {
    const text = exportText('csv');
    expect(
      text.startsWith('id,at,actor,action,store,register,outcome,origin,resource,details,prev_hash,hash\r\n'),
    ).toBe(true);
    const line2 = text.split('\r\n')[2]!; // entry 2 starts here (entry 1 is init's)
    expect(line2.startsWith('2,2026-11-27T10:00:00.000Z,"a, ""quoted"" value\nwith a newline')).toBe(true);
    // a generic CSV reader sees the same 12 fields
    const rows = parse(text);
    expect(rows).toHaveLength(6);
    expect(rows[2]![2]).toBe(tricky);
    expect(rows[2]![4]).toBe(''); // store null: empty, unquoted
    expect(text).toContain(`,,"",ok,,`); // store null, register "", outcome, origin null
    const back = await readAll(text);
    const stored = [...trail.query.iterate()];
    expect(back).toEqual(stored);
    expect(back[1]).toMatchObject({ id: 2, actor: tricky, store: null, register: '', origin: null, resource: tricky });
    expect(back[1]!.details).toBe(JSON.stringify({ note: tricky }));
    for (const e of back) expect(entryHash(e)).toBe(e.hash);
  });

  it('JSON lines: every field, in order, one entry a line', async () => {
    const text = exportText('jsonl');
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    const second = JSON.parse(lines[1]!) as Record<string, unknown>;
    expect(Object.keys(second)).toEqual([...EXPORT_FIELDS]);
    expect(second).toMatchObject({ id: 2, actor: tricky, store: null, register: '', origin: null });
    expect(await readAll(text)).toEqual([...trail.query.iterate()]);
  });

  it('reads exports without an origin field (older hubs) as origin null', async () => {
    const jsonl = exportText('jsonl')
      .trimEnd()
      .split('\n')
      .map((l) => {
        const o = JSON.parse(l) as Record<string, unknown>;
        delete o.origin;
        return JSON.stringify(o);
      })
      .join('\n');
    const fromJson = await readAll(jsonl);
    expect(fromJson.every((e) => e.origin === null)).toBe(true);
    expect(fromJson.map((e) => e.hash)).toEqual([...trail.query.iterate()].map((e) => e.hash));
    const fields = EXPORT_FIELDS.filter((f) => f !== 'origin');
    const csv = [
      fields.join(','),
      ...[...trail.query.iterate()].map((e) => fields.map((f) => csvField(e[f])).join(',')),
    ].join('\r\n');
    expect(csv.split('\r\n')[0]).toBe('id,at,actor,action,store,register,outcome,resource,details,prev_hash,hash');
    expect(await readAll(csv)).toEqual(fromJson);
  });
});

describe('an export verified away from the hub against a signed checkpoint', () => {
  let cp: CheckpointFile;

  beforeEach(() => {
    appendMany(999); // entries 1..1000
    const rec = trail.checkpoints.maybeCheckpoint()!;
    expect(rec).toMatchObject({ seq: 1, id: 1000 });
    cp = trail.checkpoints.file(rec);
    appendMany(10); // 1001..1010: after the checkpoint's head
  });

  for (const format of ['jsonl', 'csv'] as const) {
    it(`accepts an intact ${format} export, naming what the signature vouches for`, async () => {
      const r = await verifyWith(cp, exportText(format), format);
      expect(r).toMatchObject({
        ok: true,
        entries: 1010,
        from: 1,
        to: 1010,
        vouched: 1000,
        after: 10,
        checkpoint: { seq: 1, id: 1000, fingerprint: trail.checkpoints.publicKey().fingerprint, pinned: false },
      });
    });
  }

  it('reads the export from a stream (stdin: --export -)', async () => {
    writeFileSync(join(out, 'cp.json'), JSON.stringify(cp));
    const r = await verifyFiles({ checkpoint: join(out, 'cp.json'), export: Readable.from([exportText('csv')]) });
    expect(r).toMatchObject({ ok: true, entries: 1010, vouched: 1000 });
    expect(await verifyFiles({ checkpoint: join(out, 'cp.json') })).toMatchObject({
      ok: true,
      entries: 0,
      exportChecked: false,
      checkpoint: { id: 1000 },
    });
  });

  it('refuses a changed field, naming the entry', async () => {
    const lines = exportText('jsonl').split('\n');
    lines[499] = lines[499]!.replace('"outcome":"ok"', '"outcome":"denied"');
    expect(await verifyWith(cp, lines.join('\n'))).toMatchObject({
      ok: false,
      firstBad: 500,
      line: 500,
      problem: expect.stringContaining('entry 500 was changed'),
    });
  });

  it('refuses a changed field in a CSV export too', async () => {
    const text = exportText('csv').replace('"{""i"":42}"', '"{""i"":43}"');
    expect(await verifyWith(cp, text, 'csv')).toMatchObject({ ok: false, firstBad: 44 });
  });

  it('refuses a removed line, naming the entry after the gap', async () => {
    const lines = exportText('jsonl').split('\n');
    lines.splice(499, 1);
    expect(await verifyWith(cp, lines.join('\n'))).toMatchObject({
      ok: false,
      firstBad: 501,
      problem: 'entry 501 follows entry 499: entry 500 is missing or out of place',
    });
  });

  it('refuses two lines swapped', async () => {
    const lines = exportText('jsonl').split('\n');
    [lines[499], lines[500]] = [lines[500]!, lines[499]!];
    expect(await verifyWith(cp, lines.join('\n'))).toMatchObject({ ok: false, firstBad: 501 });
  });

  it("refuses an export truncated before the checkpoint's head", async () => {
    const lines = exportText('jsonl').split('\n').slice(0, 995);
    expect(await verifyWith(cp, `${lines.join('\n')}\n`)).toMatchObject({
      ok: false,
      firstBad: 996,
      problem: expect.stringContaining('entries 996..1000 are missing (the export was truncated)'),
    });
  });

  it('refuses a rewrite whose hashes were all recomputed: the signed head no longer matches', async () => {
    const es = [...trail.query.iterate()];
    es[9] = { ...es[9]!, actor: 'someone-else' };
    for (let i = 9; i < es.length; i++) {
      if (i > 9) es[i] = { ...es[i]!, prev_hash: es[i - 1]!.hash };
      es[i] = { ...es[i]!, hash: entryHash(es[i]!) };
    }
    const text = es.map((e) => formatEntry(e, 'jsonl')).join('');
    expect(await verifyWith(cp, text)).toMatchObject({
      ok: false,
      firstBad: 1000,
      problem: expect.stringContaining('signed checkpoint'),
    });
  });

  it(
    'accepts a slice that reaches the head (the signature vouches back through the links), refuses one that starts ' +
      'after it',
    async () => {
      const lines = exportText('jsonl').trimEnd().split('\n');
      expect(await verifyWith(cp, `${lines.slice(600).join('\n')}\n`)).toMatchObject({
        ok: true,
        from: 601,
        vouched: 400,
      });
      expect(await verifyWith(cp, `${lines.slice(1000).join('\n')}\n`)).toMatchObject({ ok: false, firstBad: 1001 });
    },
  );

  it('refuses a forged checkpoint: a changed payload no longer verifies', async () => {
    const forged = {
      ...cp,
      payload: cp.payload.replace(cp.checkpoint.hash, 'f'.repeat(64)),
      checkpoint: { ...cp.checkpoint, hash: 'f'.repeat(64) },
    };
    await expect(verifyWith(forged, exportText('jsonl'))).rejects.toMatchObject({
      code: TbCodes.AUDIT_BROKEN,
      message: expect.stringContaining('signature does not verify'),
    });
    const shown = { ...cp, checkpoint: { ...cp.checkpoint, id: 5 } };
    await expect(verifyWith(shown, exportText('jsonl'))).rejects.toMatchObject({
      code: TbCodes.AUDIT_BROKEN,
      message: expect.stringContaining('differs from the signed payload'),
    });
  });

  it('refuses a checkpoint signed by another key when the operator pins the hub key', async () => {
    // a forger's own key: a self-consistent file, but not the hub's key
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const payload = payloadOf({
      seq: 1,
      id: 1010,
      hash: [...trail.query.iterate()].pop()!.hash,
      at: cp.checkpoint.at,
      entries: 1010,
    });
    const forged: CheckpointFile = {
      ...cp,
      payload,
      checkpoint: JSON.parse(payload),
      signature: sign(null, Buffer.from(payload), privateKey).toString('base64'),
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      fingerprint: fingerprintOf(publicKey),
    };
    // unpinned, it verifies, and says which key signed it, for the operator to compare
    expect(await verifyWith(forged, exportText('jsonl'))).toMatchObject({
      ok: true,
      checkpoint: { fingerprint: fingerprintOf(publicKey), pinned: false },
    });
    const hubKey = trail.checkpoints.publicKey();
    await expect(
      verifyWith(forged, exportText('jsonl'), 'jsonl', { fingerprint: hubKey.fingerprint }),
    ).rejects.toMatchObject({ code: TbCodes.AUDIT_BROKEN });
    await expect(
      verifyWith(forged, exportText('jsonl'), 'jsonl', { publicKeyPem: hubKey.publicKey }),
    ).rejects.toMatchObject({ code: TbCodes.AUDIT_BROKEN });
    expect(await verifyWith(cp, exportText('jsonl'), 'jsonl', { publicKeyPem: hubKey.publicKey })).toMatchObject({
      ok: true,
      checkpoint: { pinned: true },
    });
    // a stated fingerprint that is not the key's
    await expect(
      verifyWith({ ...cp, fingerprint: fingerprintOf(publicKey) }, exportText('jsonl')),
    ).rejects.toMatchObject({ code: TbCodes.AUDIT_BROKEN });
  });

  it('refuses a file that is not a checkpoint', async () => {
    writeFileSync(join(out, 'x.json'), '{"hello":1}');
    await expect(verifyFiles({ checkpoint: join(out, 'x.json') })).rejects.toMatchObject({ code: TbCodes.INVALID });
    expect(readFileSync(join(out, 'x.json'), 'utf8')).toBe('{"hello":1}');
  });
});

describe('entries with an origin', () => {
  it('hashes the origin when there is one, and exports and verifies it (online and offline)', async () => {
    // an entry as the audit log will write it once it records origins
    const head = trail.query.head()!;
    const e: Omit<ExportedEntry, 'hash'> = {
      id: head.id + 1,
      at: '2026-11-27T10:00:01.000Z',
      actor: 'admin:tba_x',
      action: 'store.create',
      store: 'S9',
      register: null,
      outcome: 'created',
      origin: 'ip:10.0.0.5',
      resource: 'store:S9',
      details: '{}',
      prev_hash: head.hash,
    };
    const hash = entryHash(e);
    expect(hash).not.toBe(entryHash({ ...e, origin: null }));
    t.hub.storage.db
      .prepare(
        `INSERT INTO audit (id, at, actor, action, store, register, outcome, origin, resource, details, prev_hash, hash)
           VALUES (@id, @at, @actor, @action, @store, @register, @outcome, @origin, @resource, @details,
                   @prev_hash, @hash)`,
      )
      .run({ ...e, hash });
    appendMany(2); // later entries, without origin, chain on
    expect(trail.verify()).toMatchObject({ ok: true, entries: 4 });
    const cp = trail.checkpoints.file(trail.checkpoints.create()!);
    for (const format of ['jsonl', 'csv'] as const) {
      const text = exportText(format);
      expect(text).toContain('ip:10.0.0.5');
      expect(await verifyWith(cp, text, format)).toMatchObject({ ok: true, entries: 4 });
      expect(await verifyWith(cp, text.replace('ip:10.0.0.5', 'ip:10.0.0.6'), format)).toMatchObject({
        ok: false,
        firstBad: 2,
      });
    }
    t.hub.storage.db.prepare(`UPDATE audit SET origin = 'cli' WHERE id = 2`).run();
    expect(trail.verify()).toMatchObject({ ok: false, firstBad: 2 });
  });
});
