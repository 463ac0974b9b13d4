import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createLogger,
  doctorExitCode,
  doctorReport,
  formatDoctorReport,
  frameForTrace,
  redactSecrets,
  rotatingFile,
  scrubText,
  secretValues,
  tarGz,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tb-doctor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('doctor findings', () => {
  it('exit 1 only when a finding is an error; the report shows what to do', () => {
    expect(
      doctorExitCode([
        { id: 'a', level: 'ok', message: 'm' },
        { id: 'b', level: 'warning', message: 'm' },
      ]),
    ).toBe(0);
    expect(doctorExitCode([{ id: 'a', level: 'error', message: 'm' }])).toBe(1);
    const r = doctorReport('tillbridge-agent', Date.parse('2030-01-02T03:04:05Z'), [
      { id: 'hub.reachable', level: 'error', message: 'cannot connect', action: 'start the hub' },
    ]);
    expect(r).toMatchObject({ at: '2030-01-02T03:04:05.000Z', ok: false, counts: { ok: 0, warning: 0, error: 1 } });
    expect(formatDoctorReport(r)).toContain(
      'ERROR    hub.reachable: cannot connect\n         what to do: start the hub',
    );
  });
});

describe('redaction', () => {
  const config = {
    store: 'S1',
    hub: { url: 'wss://hub', apiKey: 'sk_live_VERYSECRET1', keyFile: '/etc/k.pem' },
    db: 'postgres://u:pa55word@db/x',
    list: [{ password: 'hunter2hunter2' }],
    token: 'tok_ABCDEFGH',
  };
  it('replaces the values of secret keys and URL passwords, keeps file names', () => {
    const r = JSON.stringify(redactSecrets(config));
    for (const s of ['sk_live_VERYSECRET1', 'pa55word', 'hunter2hunter2', 'tok_ABCDEFGH']) expect(r).not.toContain(s);
    expect(r).toContain('/etc/k.pem');
    expect(r).toContain('postgres://u:[redacted]@db/x');
  });
  it('scrubs the secret values from any other text', () => {
    const text = scrubText('error: key sk_live_VERYSECRET1 refused; tok_ABCDEFGH', secretValues(config));
    expect(text).toBe('error: key [redacted] refused; [redacted]');
  });
});

describe('tar.gz writer', () => {
  it('writes an archive the system tar reads back byte for byte', () => {
    const big = Buffer.alloc(70_000, 7);
    const gz = tarGz(
      [
        { name: 'b/one.txt', data: 'hello\n' },
        { name: 'b/big.bin', data: big },
        { name: 'b/empty', data: '' },
      ],
      Date.parse('2025-01-01T00:00:00Z'),
    );
    expect(gunzipSync(gz).length % 512).toBe(0);
    const file = join(dir, 'x.tar.gz');
    writeFileSync(file, gz);
    expect(execFileSync('tar', ['tzf', file], { encoding: 'utf8' }).trim().split('\n')).toEqual([
      'b/one.txt',
      'b/big.bin',
      'b/empty',
    ]);
    const out = join(dir, 'x');
    mkdirSync(out);
    execFileSync('tar', ['xzf', file, '-C', out]);
    expect(readFileSync(join(out, 'b/one.txt'), 'utf8')).toBe('hello\n');
    expect(readFileSync(join(out, 'b/big.bin')).equals(big)).toBe(true);
    expect(statSync(join(out, 'b/one.txt')).mtimeMs).toBe(Date.parse('2025-01-01T00:00:00Z'));
  });
});

describe('rotated log file', () => {
  it('rotates by size and keeps N files', () => {
    const file = join(dir, 'logs', 'a.log');
    mkdirSync(join(dir, 'logs'));
    const f = rotatingFile({ file, maxBytes: 1000, keep: 2 });
    const line = (i: number): string => `${JSON.stringify({ i, pad: 'x'.repeat(80) })}\n`; // ~100 bytes
    for (let i = 0; i < 45; i++) f.write(line(i));
    f.end();
    // 10 lines a file: 40-44 in a.log, 30-39 in a.log.1, 20-29 in a.log.2, older ones gone
    const ids = (p: string): number[] =>
      readFileSync(p, 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { i: number }).i);
    expect(ids(file)).toEqual([40, 41, 42, 43, 44]);
    expect(ids(`${file}.1`)).toEqual([30, 31, 32, 33, 34, 35, 36, 37, 38, 39]);
    expect(ids(`${file}.2`)).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    expect(existsSync(`${file}.3`)).toBe(false);
    expect(statSync(file).size).toBeLessThanOrEqual(1000);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
  it('a logger with a file writes every line there as well as to its stream', () => {
    const file = join(dir, 'both.log');
    const lines: string[] = [];
    const log = createLogger({
      name: 't',
      destination: { write: (s: string) => void lines.push(s) },
      file: { file, maxBytes: 1_000_000, keep: 1 },
    });
    log.info({ apiKey: 'sk_never' }, 'hello');
    expect(lines).toHaveLength(1);
    expect(readFileSync(file, 'utf8')).toBe(lines[0]);
    expect(lines[0]).not.toContain('sk_never');
  });
});

describe('frames in a trace log', () => {
  const PAN = '4111111111111111';
  it('masks card numbers and removes track data and security codes, in JSON, XML and key=value frames', () => {
    const json = frameForTrace(
      Buffer.from(
        `{"type":"sale","pan":"${PAN}","track2":";${PAN}=25121010000012345678?","cvv":"123",` +
          `"note":"%B${PAN}^DOE/JOHN^2512101000000000000?"}\n`,
      ),
    );
    const xml = frameForTrace(
      Buffer.from(`<Tender><PrimaryAccountNumber>${PAN}</PrimaryAccountNumber><CVV>987</CVV></Tender>`),
    );
    const kv = frameForTrace(Buffer.from(`PAN=${PAN}|cvv2=555|TRK=;${PAN}=2512101?`));
    for (const t of [json, xml, kv]) {
      expect(t).not.toContain(PAN);
      expect(t).toContain('411111******1111');
      expect(t).not.toMatch(/=2512/);
      expect(t).not.toMatch(/\^DOE/);
    }
    expect(json).toContain('"cvv":"[removed]"');
    expect(json).not.toContain('"123"');
    expect(xml).toContain('<CVV>[removed]</CVV>');
    expect(kv).toContain('cvv2=[removed]');
    expect(frameForTrace(Buffer.from([2, 65, 3]))).toBe('\\x02A\\x03');
  });
});
