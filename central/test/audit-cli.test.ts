import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TbCodes } from '@tillbridge/shared';
import { initHub, startHub, type RunningHub } from '../src/hub.js';
import type { Hub } from '../src/hub-services.js';
import { AdminClient } from '../src/cli/admin-client.js';
import { auditCommands } from '../src/cli/commands/audit.js';
import type { AuditTrail } from '../src/audit/trail.js';
import { EXPORT_FIELDS, type ExportedEntry } from '../src/audit/entry.js';
import { exportAudit } from '../src/audit/export-client.js';
import { followAudit } from '../src/audit/follow.js';
import type { CheckpointFile } from '../src/audit/checkpoint-file.js';
import { silent, TestClock } from './helpers.js';
import { runCli } from './cli-run.js';

let dir: string;
let out: string;
let token: string;
let running: RunningHub;
let hub: Hub;
let trail: AuditTrail;
const clock = new TestClock();

/** Runs `tillbridge-hub audit …` in-process against the running hub: stdout, stderr, exit code. */
const cli = (args: string[], tok = token): ReturnType<typeof runCli> =>
  runCli(auditCommands, running.url, tok, ['audit', ...args]);

function append(n: number, extra: Partial<Parameters<Hub['audit']['append']>[0]> = {}): void {
  hub.storage.tx(() => {
    for (let i = 0; i < n; i++)
      hub.audit.append({
        actor: 'store:S1',
        action: 'sale',
        outcome: 'applied',
        store: i % 2 ? 'S1' : 'S2',
        register: 'R1',
        resource: `sale:${i}`,
        ...extra,
      });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tb-audit-cli-'));
  token = initHub(dir, silent).adminToken;
  running = await startHub({ dataDir: dir, host: '127.0.0.1', port: 0, log: silent, clock });
  hub = running.hub;
  clock.t = Date.parse(hub.audit.tail(1)[0]!.at);
  trail = hub.auditTrail;
  hub.audit.append({
    actor: 'admin:x',
    action: 'odd',
    outcome: 'ok',
    resource: 'a "quoted", value\nover two lines',
    details: { note: 'x,y' },
  });
  append(120);
});
afterAll(async () => {
  await running.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  out = mkdtempSync(join(tmpdir(), 'tb-audit-files-'));
});
afterEach(() => rmSync(out, { recursive: true, force: true }));

describe('tillbridge-hub audit, through the admin API', () => {
  it('export (paged) + checkpoint --now + verify --checkpoint with only the files', async () => {
    const cp = await cli(['checkpoint', '--now', '--out', join(out, 'cp.json'), '--json']);
    expect(cp.code).toBe(0);
    const cpInfo = JSON.parse(cp.stdout) as { seq: number; id: number; fingerprint: string };
    // 1 init + 1 odd + 120 + the audited request
    expect(cpInfo).toMatchObject({ file: join(out, 'cp.json'), seq: 1, id: 123 });
    expect(hub.audit.tail(1)[0]).toMatchObject({
      id: 123,
      action: 'audit.checkpoint',
      actor: expect.stringMatching(/^admin:tba_/),
    });

    for (const format of ['csv', 'jsonl']) {
      const file = join(out, `audit.${format}`);
      const ex = await cli(['export', '--all', '--page-size', '7', '--out', file]);
      expect(ex).toMatchObject({ code: 0, stdout: `exported 123 entries (1..123) to ${file} as ${format}\n` });
      expect(existsSync(`${file}.part`)).toBe(false);
      const v = await cli([
        'verify',
        '--checkpoint',
        join(out, 'cp.json'),
        '--export',
        file,
        '--fingerprint',
        cpInfo.fingerprint,
        '--json',
      ]);
      expect(v.code).toBe(0);
      expect(JSON.parse(v.stdout)).toMatchObject({
        ok: true,
        entries: 123,
        from: 1,
        to: 123,
        vouched: 123,
        after: 0,
        checkpoint: { seq: 1, id: 123, pinned: true },
      });
    }

    // an edited export: exit 5, naming the entry
    const lines = readFileSync(join(out, 'audit.jsonl'), 'utf8').split('\n');
    lines[40] = lines[40]!.replace('"outcome":"applied"', '"outcome":"refused"');
    writeFileSync(join(out, 'edited.jsonl'), lines.join('\n'));
    const bad = await cli(['verify', '--checkpoint', join(out, 'cp.json'), '--export', join(out, 'edited.jsonl')]);
    expect(bad.code).toBe(5);
    expect(bad.stdout).toMatch(/^EXPORT REFUSED at entry 41 \(line 41\): entry 41 was changed/);

    // a forged checkpoint: exit 5
    const f = JSON.parse(readFileSync(join(out, 'cp.json'), 'utf8')) as CheckpointFile;
    f.payload = f.payload.replace('"id":123', '"id":122');
    f.checkpoint.id = 122;
    writeFileSync(join(out, 'forged.json'), JSON.stringify(f));
    const forged = await cli([
      'verify',
      '--checkpoint',
      join(out, 'forged.json'),
      '--export',
      join(out, 'audit.jsonl'),
    ]);
    expect(forged.code).toBe(5);
    expect(forged.stderr).toMatch(/signature does not verify/);
  });

  it('export to stdout: JSON lines of every field, filtered by store and time', async () => {
    const r = await cli(['export', '--store', 'S1', '--since', '2000-01-01', '--page-size', '10']);
    expect(r.code).toBe(0);
    const es = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as ExportedEntry);
    expect(es).toHaveLength(60);
    expect(es.every((e) => e.store === 'S1')).toBe(true);
    expect(Object.keys(es[0]!)).toEqual(EXPORT_FIELDS);
    const none = await cli(['export', '--until', '2000-01-01', '--format', 'csv']);
    expect(none).toMatchObject({
      code: 0,
      stdout: 'id,at,actor,action,store,register,outcome,origin,resource,details,prev_hash,hash\r\n',
    });
    expect((await cli(['export', '--format', 'xml'])).code).toBe(2);
    expect((await cli(['export', '--since', 'last tuesday'])).code).toBe(2);
  });

  it('exportAudit stops at the head it started from, whatever is written meanwhile', async () => {
    let text = '';
    const sink = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream;
    let pages = 0;
    const head = trail.query.head()!.id;
    const s = await exportAudit(new AdminClient(running.url, token), sink as never, {
      format: 'jsonl',
      since: '2000-01-01',
      pageSize: 40,
      // written after the first page is read, before the second is asked for
      onProgress: () => {
        if (++pages === 1) append(50);
      },
    });
    expect(s).toMatchObject({ first: 1, last: head, entries: head });
    expect(text.trimEnd().split('\n')).toHaveLength(head);
  });

  it('checkpoints, checkpoint SEQ / --latest, public-key', async () => {
    const list = await cli(['checkpoints', '--json']);
    const cps = JSON.parse(list.stdout) as { seq: number; id: number; fingerprint: string }[];
    expect(cps.length).toBeGreaterThan(0);
    const pk = JSON.parse((await cli(['public-key', '--json'])).stdout) as { publicKey: string; fingerprint: string };
    expect(pk.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(cps[0]!.fingerprint).toBe(pk.fingerprint);
    const latest = JSON.parse((await cli(['checkpoint', '--latest'])).stdout) as CheckpointFile;
    expect(latest).toMatchObject({
      format: 'tillbridge-audit-checkpoint/1',
      checkpoint: { seq: cps[0]!.seq },
      fingerprint: pk.fingerprint,
      publicKey: pk.publicKey,
    });
    expect(JSON.parse((await cli(['checkpoint', '1'])).stdout)).toMatchObject({ checkpoint: { seq: 1, id: 123 } });
    expect((await cli(['checkpoint', '999'])).code).toBe(3);
    // the public key file pins verification too
    await cli(['public-key', '--out', join(out, 'hub.pub')]);
    writeFileSync(join(out, 'cp.json'), JSON.stringify(latest));
    const v = await cli(['verify', '--checkpoint', join(out, 'cp.json'), '--public-key', join(out, 'hub.pub')]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/signature valid\nkey SHA256:\S+ \(the trusted key\)/);
  });

  it('an operator token reads but may not sign a checkpoint', async () => {
    const op = hub.credentials.createAdminToken('operator', 'auditor').secret;
    expect((await cli(['checkpoints'], op)).code).toBe(0);
    const r = await cli(['checkpoint', '--now'], op);
    expect(r.code).toBe(4);
  });

  it('verify online walks the chain from the oldest retained entry, and names a changed entry', async () => {
    const ok = await cli(['verify', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, from: 1, checkpoints: expect.any(Number) });
    const db = hub.storage.db;
    const old = (db.prepare(`SELECT outcome FROM audit WHERE id = 7`).get() as { outcome: string }).outcome;
    db.prepare(`UPDATE audit SET outcome = 'nothing to see' WHERE id = 7`).run();
    try {
      const bad = await cli(['verify']);
      expect(bad.code).toBe(5);
      expect(bad.stdout).toMatch(/^AUDIT LOG BROKEN at entry 7: entry 7 was changed/);
    } finally {
      db.prepare(`UPDATE audit SET outcome = ? WHERE id = 7`).run(old);
    }
  });

  it('tail -n --json, and --follow printing new entries as they are written', async () => {
    const t = await cli(['tail', '-n', '2', '--json']);
    const last = JSON.parse(t.stdout) as ExportedEntry[];
    expect(last.map((e) => e.id)).toEqual([trail.query.head()!.id - 1, trail.query.head()!.id]);

    const seen: ExportedEntry[] = [];
    const stop = new AbortController();
    const following = followAudit(new AdminClient(running.url, token), {
      after: trail.query.head()!.id,
      intervalMs: 20,
      signal: stop.signal,
      onEntries: (es) => {
        seen.push(...es);
        if (seen.length >= 3) stop.abort();
      },
    });
    await new Promise((r) => setTimeout(r, 50));
    hub.audit.append({ actor: 'admin:y', action: 'store.create', outcome: 'created', resource: 'store:S7' });
    await new Promise((r) => setTimeout(r, 50));
    append(2, { action: 'later' });
    await following;
    expect(seen.map((e) => e.action)).toEqual(['store.create', 'later', 'later']);
    expect(seen[0]!.id).toBe(last[1]!.id + 1);
  });

  it('follow keeps going while the hub is unreachable, and stops on abort', async () => {
    const stop = new AbortController();
    const errors: string[] = [];
    const p = followAudit(new AdminClient('http://127.0.0.1:1', token), {
      after: 0,
      intervalMs: 10,
      signal: stop.signal,
      onEntries: () => undefined, // the hub is unreachable: no entries come
      onUnreachable: (e) => errors.push((e as { code?: string }).code ?? ''),
    });
    // keeps trying: wait for a second failed attempt (however busy the machine), then abort
    while (errors.length < 2) await new Promise((r) => setTimeout(r, 10));
    stop.abort();
    await p;
    expect(errors.length).toBeGreaterThan(1);
    expect(errors[0]).toBe(TbCodes.HUB_UNAVAILABLE);
    await expect(
      followAudit(new AdminClient(running.url, 'tba_wrong'), {
        after: 0,
        intervalMs: 10,
        signal: new AbortController().signal,
        onEntries: () => undefined, // refused before any entry
      }),
    ).rejects.toMatchObject({ code: TbCodes.UNAUTHORIZED });
  });
});
