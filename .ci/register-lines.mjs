// A register for .ci/package-test: connects to an agent's tcp-server register on 127.0.0.1:PORT,
// sends each argument as one JSON line (docs/register-protocol.md), waits for the agent's answer to
// it, and prints the answers, one JSON line each. Exits 1 on an error answer, a closed connection
// or no answer within 15 s. Node's built-ins only: nothing of the checkout is loaded.
import { connect } from 'node:net';

const [port, ...messages] = process.argv.slice(2);
if (!port || messages.length === 0) {
  process.stderr.write('usage: node register-lines.mjs PORT JSON...\n');
  process.exit(2);
}
const socket = connect({ host: '127.0.0.1', port: Number(port) });
socket.setEncoding('utf8');
let buffer = '';
const waiting = [];
socket.on('data', (chunk) => {
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    waiting.shift()?.(line);
  }
});
const fail = (message) => {
  process.stderr.write(`register: ${message}\n`);
  process.exit(1);
};
socket.on('error', (err) => fail(`127.0.0.1:${port}: ${err.message}`));
socket.on('close', () => {
  if (waiting.length) fail('the agent closed the connection before answering');
});
await new Promise((resolve) => socket.once('connect', resolve));
for (const message of messages) {
  const answer = await new Promise((resolve) => {
    const timer = setTimeout(() => fail(`no answer in 15 s to ${message}`), 15_000);
    waiting.push((line) => {
      clearTimeout(timer);
      resolve(line);
    });
    socket.write(`${message}\n`);
  });
  process.stdout.write(`${answer}\n`);
  const parsed = JSON.parse(answer);
  if (parsed.type === 'error') fail(`error answer to ${message}: ${answer}`);
}
socket.end();
