import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import WebSocket, { WebSocketServer } from 'ws';
import { StxRegister } from '@tillbridge/scripts/lib/stx-register';
import { readLines } from './json-lines.js';
import { summarize, type Summary } from './stats.js';

/**
 * A child process of this folder's build, once it has printed its first line: its port (NaN for a process that
 * prints "ready" instead).
 */
async function startFloorProcess(file: string, args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [fileURLToPath(new URL(file, import.meta.url)), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const said = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (out.includes('\n')) resolve(out.trim());
    });
    proc.once('exit', (code) => reject(new Error(`${file} exited (${String(code)}) before it was ready`)));
  });
  return { proc, port: Number(said) };
}

async function stopFloorProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  await exited;
}

type StartFloor = (file: string, args: string[]) => Promise<{ port: number; pid: number | undefined }>;

/**
 * Runs `measure` with a temporary folder and a way to start floor processes; however it ends (one of them failing to
 * start too), the processes it started are stopped, newest first, and the folder is removed.
 */
export async function withFloorProcesses<T>(measure: (start: StartFloor, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-floor-'));
  const started: ChildProcess[] = [];
  try {
    return await measure(async (file, args) => {
      const p = await startFloorProcess(file, args);
      started.push(p.proc);
      return { port: p.port, pid: p.proc.pid };
    }, dir);
  } finally {
    for (const proc of started.reverse()) await stopFloorProcess(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The online authorization's floor, in the path's shape: three processes — this one as the register, a
 * relay (floor-relay.ts: TCP JSON lines in, one WebSocket out, as the agent) and a server
 * (floor-server.ts: one durable SQLite commit per request, as the hub) — on loopback. One request in
 * flight, like one register waiting for its decision; n samples after 50 to warm up.
 */
export function threeProcessFloor(n: number): Promise<Summary> {
  return withFloorProcesses(async (start, dir) => {
    const server = await start('./floor-server.js', [join(dir, 'floor-server.sqlite')]);
    const relay = await start('./floor-relay.js', [`ws://127.0.0.1:${server.port}`]);
    const line = `${JSON.stringify({ type: 'return.request', receipt: 'R-000001', lines: [{ line: 1, qty: 1 }] })}\n`;
    return lineRoundTrips(relay.port, n, line);
  });
}

/** One JSON line at a time over a TCP connection to 127.0.0.1:port, each answered by a line; n samples after 50. */
async function lineRoundTrips(port: number, n: number, line: string): Promise<Summary> {
  const sock = connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  let answered: (() => void) | undefined;
  readLines(sock, () => answered?.());
  const samples: number[] = [];
  for (let i = 0; i < n + 50; i++) {
    const t = performance.now();
    await new Promise<void>((resolve) => {
      answered = resolve;
      sock.write(line);
    });
    if (i >= 50) samples.push(performance.now() - t);
  }
  sock.destroy();
  return summarize(samples);
}

/**
 * The sale ack's floor in the path's shape: two processes — this one as the register, a server (floor-ack-server.ts:
 * one durable SQLite commit per line, then the ack) as the agent — on loopback, one sale in flight.
 */
export function ackFloor(n: number): Promise<Summary> {
  return withFloorProcesses(async (start, dir) => {
    const server = await start('./floor-ack-server.js', [join(dir, 'floor-ack.sqlite')]);
    const sale = { type: 'sale', id: 's-1', receipt: 'R-000001', lines: [{ sku: 'SKU-1', qty: 1, unitPrice: 1999 }] };
    return lineRoundTrips(server.port, n, `${JSON.stringify(sale)}\n`);
  });
}

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

/**
 * The raw floor: one durable SQLite commit (WAL, synchronous=FULL), one small row per transaction. With `trees` > 1,
 * the transaction writes one such row into each of that many tables, so it commits as many B-tree pages as a path
 * that writes that many tables and indexes: the shape of a sale's commit at the agent, or an authorization's at the
 * hub, printed as parts beside the one-row floor. With `idleMs` > 0, the process sleeps that long before each commit
 * (outside the timing), as a commit waits for the next message on a path of round trips: on this machine's virtual
 * disk an fsync after a few idle milliseconds costs up to 2–3× one just after another (2026-12-02, docs/benchmarks.md).
 */
export function sqliteCommit(n: number, trees = 1, idleMs = 0): Summary {
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-'));
  const db = new Database(join(dir, 'floor.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const inserts = Array.from({ length: trees }, (_, i) => {
    db.exec(`CREATE TABLE t${i} (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)`);
    return db.prepare(`INSERT INTO t${i} (body) VALUES (?)`);
  });
  const tx = db.transaction((b: string) => {
    for (const ins of inserts) ins.run(b);
  });
  const samples: number[] = [];
  const body = JSON.stringify({ receipt: 'R-000001', lines: [{ line: 1, sku: 'SKU-1', qty: 1, unitPrice: 1999 }] });
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < n + 20; i++) {
    if (idleMs > 0) Atomics.wait(sleeper, 0, 0, idleMs);
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

/**
 * The serial sale's floor in the path's shape: two processes on a pty pair — this one as the register (StxRegister,
 * as the bench drives the agent), a server (floor-stx-server.ts: ACK, one durable commit, reply frame) as the agent —
 * one sale in flight; n samples after 20. The four transfers of the protocol (frame, ACK, reply, the register's ACK)
 * and one commit, nothing else.
 */
export function stxFloor(a: string, b: string, n: number, record: (i: number) => string): Promise<Summary> {
  return withFloorProcesses(async (start, dir) => {
    await start('./floor-stx-server.js', [a, join(dir, 'floor-stx.sqlite')]);
    const reg = await StxRegister.open(b, 115200);
    try {
      const samples: number[] = [];
      for (let i = 0; i < n + 20; i++) {
        const t = performance.now();
        const answer = await reg.send(record(i));
        if (answer.control !== 'ACK' || answer.reply === undefined) throw new Error(`stx floor ${i}: no reply`);
        if (i >= 20) samples.push(performance.now() - t);
      }
      return summarize(samples);
    } finally {
      await reg.close();
    }
  });
}

// ---------- the throughput floor: the same sale rows inserted directly, one durable transaction per batch ----------

export const FLOOR_DDL = [
  `CREATE TABLE sales (store TEXT NOT NULL, receipt TEXT NOT NULL, register TEXT, channel TEXT NOT NULL, at TEXT NOT ` +
    `NULL, currency TEXT NOT NULL, total INTEGER NOT NULL, tenders TEXT NOT NULL, event_id TEXT, created_at TEXT NOT ` +
    `NULL, PRIMARY KEY (store, receipt))`,
  `CREATE TABLE sale_lines (store TEXT NOT NULL, receipt TEXT NOT NULL, line INTEGER NOT NULL, sku TEXT NOT NULL, ` +
    `qty INTEGER NOT NULL, unit_price INTEGER NOT NULL, PRIMARY KEY (store, receipt, line))`,
];

export function floorRow(i: number): unknown[] {
  const at = new Date().toISOString();
  return [
    `S${(i % 1000) + 1}`,
    `F-${i}`,
    'R1',
    'store',
    at,
    'EUR',
    1000,
    '[{"kind":"cash","amount":1000}]',
    `ev-${i}`,
    at,
  ];
}

/** The throughput floor: `rows` sales (sale + line) committed durably in groups of `batch`, one transaction each. */
export function sqliteFloor(dir: string, rows: number, batch: number): { ms: number; perSecond: number } {
  const db = new Database(join(dir, 'floor.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  for (const ddl of FLOOR_DDL) db.exec(ddl);
  const sale = db.prepare(`INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const line = db.prepare(`INSERT INTO sale_lines VALUES (?, ?, 1, 'SKU-1', 1000, 1000)`);
  const insert = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const r = floorRow(i);
      sale.run(...r);
      line.run(r[0], r[1]);
    }
  });
  const t = performance.now();
  for (let i = 0; i < rows; i += batch) insert(i, Math.min(rows, i + batch));
  const took = performance.now() - t;
  db.close();
  return { ms: took, perSecond: rows / (took / 1000) };
}
