/**
 * The serial sale's path floor, the agent's side: on one end of a pseudo-terminal pair, reads STX payload ETX LRC
 * frames (as a legacy register sends them to the agent), answers each good one with ACK at once, makes one durable
 * SQLite commit (WAL, synchronous=FULL) of its payload, then sends a reply frame `A|<the payload's second field>`;
 * the register's ACK of the reply is read and dropped. The agent's protocol without the agent's work. Prints "ready"
 * on stdout once the port is open; argv[2] is the pty, argv[3] the SQLite file.
 */
import { SerialPort } from 'serialport';
import { lrc, stxFrame } from '@tillbridge/scripts/lib/stx-register';
import { durableRows } from './durable-rows.js';

const [STX, ETX, ACK] = [0x02, 0x03, 0x06];
const rows = durableRows(process.argv[3] ?? ':memory:');

const port = new SerialPort({ path: process.argv[2] ?? '', baudRate: 115200, autoOpen: false });
let buf = Buffer.alloc(0);
port.on('data', (d: Buffer) => {
  buf = Buffer.concat([buf, d]);
  for (;;) {
    const s = buf.indexOf(STX);
    const e = s === -1 ? -1 : buf.indexOf(ETX, s + 1);
    if (e === -1 || buf.length < e + 2) break;
    const payload = buf.subarray(s + 1, e);
    const good = buf[e + 1] === lrc(payload);
    buf = buf.subarray(e + 2);
    if (!good) continue;
    port.write(Buffer.of(ACK));
    const text = payload.toString('latin1');
    rows.commit(text);
    port.write(stxFrame(`A|${text.split('|')[1] ?? ''}`));
  }
});
port.open((err) => {
  if (err) throw err;
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => {
  port.close(() => {
    rows.close();
    process.exit(0);
  });
});
