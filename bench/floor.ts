import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import WebSocket, { WebSocketServer } from 'ws';
import { summarize, type Summary } from './stats.js';

/** The raw floor, measured in the same run: a WebSocket echo round trip on loopback. */
export async function wsEcho(n: number): Promise<Summary> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
  const port = (wss.address() as { port: number }).port;
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise<void>((r) => ws.once('open', () => r()));
  const payload = JSON.stringify({
    t: 'req',
    rid: 1,
    op: 'authorize',
    body: { receipt: 'R-000001', lines: [{ line: 1, qty: 1 }] },
  });
  const samples: number[] = [];
  for (let i = 0; i < n + 50; i++) {
    const t = performance.now();
    await new Promise<void>((r) => {
      ws.once('message', () => r());
      ws.send(payload);
    });
    if (i >= 50) samples.push(performance.now() - t);
  }
  ws.close();
  await new Promise<void>((r) => wss.close(() => r()));
  return summarize(samples);
}

/** The raw floor: one durable SQLite commit (WAL, synchronous=FULL), one small row per transaction. */
export function sqliteCommit(n: number): Summary {
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-'));
  const db = new Database(join(dir, 'floor.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)');
  const ins = db.prepare('INSERT INTO t (body) VALUES (?)');
  const tx = db.transaction((b: string) => ins.run(b));
  const samples: number[] = [];
  const body = JSON.stringify({ receipt: 'R-000001', lines: [{ line: 1, sku: 'SKU-1', qty: 1, unitPrice: 1999 }] });
  for (let i = 0; i < n + 20; i++) {
    const t = performance.now();
    tx.immediate(body);
    if (i >= 20) samples.push(performance.now() - t);
  }
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return summarize(samples);
}

/** The raw floor for serial: a frame written to one end of a pty pair, echoed back at the other end. */
export async function ptyEcho(a: string, b: string, n: number): Promise<Summary> {
  const { SerialPort } = await import('serialport');
  const open = (path: string) =>
    new Promise<InstanceType<typeof SerialPort>>((resolve, reject) => {
      const p = new SerialPort({ path, baudRate: 115200, autoOpen: false });
      p.open((err) => (err ? reject(err) : resolve(p)));
    });
  const echo = await open(a);
  echo.on('data', (d: Buffer) => echo.write(d));
  const reg = await open(b);
  const frame = Buffer.from(
    '\x02S|000123|0001-000123|20261127|1015|EUR|1|SKU-1|1000|1000|1|01|1000|\x03\x00',
    'latin1',
  );
  const samples: number[] = [];
  for (let i = 0; i < n + 20; i++) {
    const t = performance.now();
    await new Promise<void>((resolve) => {
      let got = 0;
      const on = (d: Buffer): void => {
        got += d.length;
        if (got >= frame.length) {
          reg.off('data', on);
          resolve();
        }
      };
      reg.on('data', on);
      reg.write(frame);
    });
    if (i >= 20) samples.push(performance.now() - t);
  }
  await new Promise<void>((r) => reg.close(() => r()));
  await new Promise<void>((r) => echo.close(() => r()));
  return summarize(samples);
}
