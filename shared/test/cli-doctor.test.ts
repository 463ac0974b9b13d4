import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { logTailEntries, reportEntries, supportBundle, versionsEntry } from '../src/cli-doctor.js';
import { doctorReport, formatDoctorReport } from '../src/doctor.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-cli-doctor-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("a support bundle's common entries", () => {
  it('the report as JSON and as printed', () => {
    const report = doctorReport('tillbridge-test', 0, [{ id: 'disk', level: 'ok', message: 'room enough' }]);
    expect(reportEntries(report)).toEqual([
      { name: 'tillbridge-bundle/doctor.json', data: `${JSON.stringify(report, null, 2)}\n` },
      { name: 'tillbridge-bundle/doctor.txt', data: formatDoctorReport(report) },
    ]);
  });

  it("versions: the software's, Node's and the OS's first, then the program's own", () => {
    const e = versionsEntry('9.9.9', { schema: { sqlite: 3 } });
    expect(e.name).toBe('tillbridge-bundle/versions.json');
    const v = JSON.parse(String(e.data)) as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['tillbridge', 'node', 'os', 'schema']);
    expect(v).toMatchObject({ tillbridge: '9.9.9', node: process.version, schema: { sqlite: 3 } });
  });

  it('logs: the end of the log and of its rotated copy, those that exist', () => {
    const log = join(dir, 'hub.log');
    writeFileSync(log, 'first line\nlast line\n');
    expect(logTailEntries(log, 'hub', 10)).toEqual([{ name: 'tillbridge-bundle/logs/hub.log', data: 'last line\n' }]);
    writeFileSync(`${log}.1`, 'older\n');
    expect(logTailEntries(log, 'hub').map((e) => e.name)).toEqual([
      'tillbridge-bundle/logs/hub.log',
      'tillbridge-bundle/logs/hub.1.log',
    ]);
    expect(logTailEntries(join(dir, 'none.log'), 'agent')).toEqual([]);
  });
});

describe('a support bundle', () => {
  it("holds the findings, versions, the program's files and its log's end, every one scrubbed of the secrets", () => {
    const log = join(dir, 'agent.log');
    writeFileSync(log, 'sent key s3cr3t-value to postgres://tb:pw@db/tb\n');
    const report = doctorReport('tillbridge-test', 0, [{ id: 'disk', level: 'ok', message: 'room enough' }]);
    const files = { 'config.json': '{"apiKey": "s3cr3t-value"}\n' };
    const bundle = supportBundle(
      report,
      {
        software: '9.9.9',
        versions: {},
        files,
        log: { file: log, program: 'agent' },
        secrets: new Set(['s3cr3t-value']),
      },
      0,
    );
    const tar = gunzipSync(bundle).toString('utf8');
    for (const name of ['doctor.json', 'doctor.txt', 'versions.json', 'config.json', 'logs/agent.log'])
      expect(tar).toContain(`tillbridge-bundle/${name}`);
    expect(tar).not.toContain('s3cr3t-value');
    expect(tar).not.toContain(':pw@');
    expect(tar).toContain('[redacted]');
  });
});
