/**
 * The floor of the agent's idle memory, of its shape: a node process that uses, once each, the packages the agent is
 * built on (better-sqlite3, ws, pino, commander: the user's choices) and the store zone's rules, then idles. It
 * parses a command line, opens a SQLite file in WAL mode and commits one row, logs one line, reads one instant in a
 * time zone, listens on a loopback TCP port and holds one WebSocket connection (to an echo server of the bench's, as
 * the agent holds one to the hub). None of the agent's own code and none of its other packages. Prints "ready" on
 * stdout once all of that is done; argv[2] is a folder, argv[3] the WebSocket URL.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Command } from 'commander';
import { pino } from 'pino';
import WebSocket from 'ws';

const program = new Command('floor').requiredOption('--dir <dir>', 'where the SQLite file goes');
const { dir } = program.parse(['node', 'floor', '--dir', process.argv[2] ?? '.']).opts<{ dir: string }>();
const db = new Database(join(dir, 'floor-idle.sqlite'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, at TEXT NOT NULL)');
const zone = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Berlin', dateStyle: 'short', timeStyle: 'long' });
db.prepare('INSERT INTO t (at) VALUES (?)').run(zone.format(Date.now()));
const log = pino({ level: 'info' }, pino.destination({ dest: join(dir, 'floor-idle.log'), sync: true }));
log.info('floor idle');

const tcp = createServer((s) => s.end()).listen(0, '127.0.0.1');
const ws = new WebSocket(process.argv[3] ?? '');
ws.on('open', () => ws.send('hello'));
ws.once('message', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => {
  tcp.close();
  ws.close();
  db.close();
  process.exit(0);
});
