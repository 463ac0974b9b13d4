/**
 * The floor's server process: a WebSocket server on loopback that, for each request, makes one
 * durable SQLite commit (WAL, synchronous=FULL) of the request's body and answers. The hub's shape
 * without the hub's work. Prints its port on stdout; argv[2] is the SQLite file.
 */
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { WebSocketServer } from 'ws';

const db = new Database(process.argv[2] ?? ':memory:');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE IF NOT EXISTS decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, rid INTEGER, body TEXT NOT NULL)');
const insert = db.prepare('INSERT INTO decisions (rid, body) VALUES (?, ?)');
const commit = db.transaction((rid: number, body: string) => insert.run(rid, body));

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('listening', () => process.stdout.write(`${(wss.address() as { port: number }).port}\n`));
wss.on('connection', (ws) =>
  ws.on('message', (data: Buffer) => {
    const req = JSON.parse(data.toString('utf8')) as { rid: number; body: unknown };
    commit.immediate(req.rid, JSON.stringify(req.body));
    ws.send(JSON.stringify({ t: 'res', rid: req.rid, ok: true, at: performance.now() }));
  }),
);
process.on('SIGTERM', () => {
  wss.close();
  db.close();
  process.exit(0);
});
