/**
 * `npm start`: a hub and one store agent on 127.0.0.1 with embedded SQLite in .tillbridge-demo/,
 * and a scripted register walking through the life of a return — online, denied, offline,
 * reconciled. The hub serves its operator console too (docs/console.md): the demo prints its address and a
 * sign-in token. Both keep running until Ctrl-C.
 */
import { rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT } from './lib/paths.js';
import { writeDevCerts } from '@tillbridge/central';
import {
  addStore,
  agentStatus,
  initHub,
  onHand,
  returnsList,
  setStock,
  startAgent,
  startHub,
  type AgentHandle,
  type HubHandle,
} from './lib/cluster.js';
import { JsonLinesRegister } from './lib/register-client.js';
import { waitFor } from './lib/wait.js';

const DIR = join(ROOT, '.tillbridge-demo');
const HUB_PORT = Number(process.env.TILLBRIDGE_DEMO_HUB_PORT ?? 7400);
const REGISTER_PORT = Number(process.env.TILLBRIDGE_DEMO_REGISTER_PORT ?? 7410);
const CONSOLE_PORT = Number(process.env.TILLBRIDGE_DEMO_CONSOLE_PORT ?? 7480);
/** The operator console's address (its own listener, with the hub's demo certificate). */
const CONSOLE_URL = `https://127.0.0.1:${CONSOLE_PORT}/console/`;
const STORE = 'S001';
const SKUS = { tee: 'TEE-BLUE-M', mug: 'MUG-LOGO' };

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
let stepNo = 0;

function step(title: string): void {
  stepNo++;
  process.stdout.write(`\n${bold(`${stepNo}. ${title}`)}\n`);
}
function say(text: string): void {
  process.stdout.write(`   ${text}\n`);
}

async function stock(hub: HubHandle): Promise<string> {
  const tee = await onHand(hub, STORE, SKUS.tee);
  const mug = await onHand(hub, STORE, SKUS.mug);
  return `hub inventory at ${STORE}: ${SKUS.tee} ${tee}, ${SKUS.mug} ${mug}`;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, string]> {
  const t = performance.now();
  const r = await fn();
  return [r, `${(performance.now() - t).toFixed(1)} ms`];
}

interface Decision {
  decision: string;
  mode: string;
  authorization: string;
  lines: { line: number; approvedQty: number; code: string }[];
  reason?: string;
  refundAmount?: number;
  allowedTenders?: string[];
}

function describe(d: Decision): string {
  const amount = d.decision !== 'denied' ? d.refundAmount : undefined;
  const tenders = d.allowedTenders?.join(' or ');
  const refund = amount !== undefined ? `; refund ${(amount / 100).toFixed(2)} EUR to ${tenders}` : '';
  const lines = d.lines.map((l) => `line ${l.line}: ${l.approvedQty} approved [${l.code}]`).join(', ');
  return `${d.decision.toUpperCase()} (${d.mode}) ${lines}${refund}${d.reason ? ` — ${d.reason}` : ''}`;
}

/** A return request from the register: the agent's decision. */
function ask(reg: JsonLinesRegister, id: string, receipt: string, lines: Record<string, unknown>[]): Promise<Decision> {
  return reg.send<Decision>({ type: 'return.request', id, receipt, lines });
}

/** What the demo runs: the hub (replaced when it restarts), the agent, and the register talking to it. */
interface World {
  hub: HubHandle;
  agent: AgentHandle;
  reg: JsonLinesRegister;
  hubData: string;
  adminToken: string;
  /** an operator (read-only) token, to sign in to the console with */
  consoleToken: string;
  certs: ReturnType<typeof writeDevCerts>;
  echo: boolean;
}

type HubSetup = Pick<World, 'hubData' | 'adminToken' | 'certs' | 'echo'>;

function startHubProcess(w: HubSetup, port: number): Promise<HubHandle> {
  const extraArgs = ['--tls-cert', w.certs.serverCert, '--tls-key', w.certs.serverKey];
  extraArgs.push('--console', `127.0.0.1:${CONSOLE_PORT}`);
  const { hubData: dataDir, adminToken, echo } = w;
  return startHub({ dataDir, adminToken, port, echo, detached: true, extraArgs, ca: w.certs.caCert });
}

async function startWorld(): Promise<World> {
  const echo = Boolean(process.env.DEBUG);
  step('Start the hub (TLS) and create a store, its stock and its register');
  const hubData = join(DIR, 'hub');
  const certs = writeDevCerts(join(DIR, 'certs'), ['localhost', '127.0.0.1'], [STORE]);
  say(
    `a local CA and certificates in ${certs.dir} (tillbridge-hub certs dev): the hub serves HTTPS/WSS, ` +
      'the agent trusts the CA',
  );
  const adminToken = await initHub(hubData);
  const hub = await startHubProcess({ hubData, adminToken, certs, echo }, HUB_PORT);
  say(`hub listening on ${hub.url} (admin API, token endpoint, agents' WebSocket at ${hub.wsUrl}/v1/agent)`);
  const made = await hub.cli(['tokens', 'create', '--role', 'operator', '--name', 'demo console', '--json']);
  if (made.code !== 0) throw new Error(`tokens create: ${made.stderr}`);
  const consoleToken = (JSON.parse(made.stdout) as { token: string }).token;
  say(`operator console at ${CONSOLE_URL}, sign in with the operator token ${consoleToken}`);
  const apiKey = await addStore(hub, STORE, 'Main Street');
  await setStock(hub, STORE, SKUS.tee, 20);
  await setStock(hub, STORE, SKUS.mug, 12);
  say(`store ${STORE} created; its API key goes into the agent's config`);
  say(await stock(hub));

  const registers = [{ id: 'R1', port: REGISTER_PORT }];
  const overrides = { hub: { caFile: certs.caCert } };
  const dir = join(DIR, 'agent');
  const hubWsUrl = hub.wsUrl;
  const agent = await startAgent({ dir, store: STORE, apiKey, hubWsUrl, registers, echo, detached: true, overrides });
  say(`store agent running; register R1 listens on tcp://127.0.0.1:${agent.port('R1')} (JSON lines)`);
  const reg = await JsonLinesRegister.connect(agent.port('R1'));
  return { hub, agent, reg, hubData, adminToken, consoleToken, certs, echo };
}

/** A sale, a return approved online, and one refused for asking more than is left. */
async function online({ hub, reg }: World, receipt: string): Promise<void> {
  step('A sale: 2 T-shirts and a mug, paid by card');
  const [ack, t1] = await timed(() =>
    reg.send({
      type: 'sale',
      id: 'msg-1',
      receipt,
      at: new Date().toISOString(),
      currency: 'EUR',
      lines: [
        { line: 1, sku: SKUS.tee, qty: 2, unitPrice: 1999 },
        { line: 2, sku: SKUS.mug, qty: 1, unitPrice: 899 },
      ],
      tenders: [{ kind: 'card', amount: 4897, pan: '4111 1111 1111 1111' }],
    }),
  );
  say(`register got ${JSON.stringify(ack)} in ${t1} — the sale was durable in the agent's SQLite before the ack`);
  say('the card number was masked at the gateway (411111******1111); no full PAN is stored, logged or sent');
  await waitFor('the sale at the hub', async () => (await onHand(hub, STORE, SKUS.tee)) === 18);
  say(await stock(hub));

  step('The customer returns one T-shirt: the agent asks the hub in real time');
  const reasonLine = { line: 1, qty: 1, reason: 'wrong size' };
  const [d1, t2] = await timed(() => ask(reg, 'msg-2', receipt, [reasonLine]));
  say(`${describe(d1)} in ${t2}`);
  say('the hub reserved 1 unit of line 1 for this authorization until it is completed');
  const refund = { kind: 'card', amount: 1999 };
  const completion = { authorization: d1.authorization, lines: [{ line: 1, qty: 1 }], refund };
  const [, t3] = await timed(() => reg.send({ type: 'return.complete', id: 'msg-3', ...completion }));
  say(`return completed (ack in ${t3}); the T-shirt goes back on the shelf`);
  await waitFor('the restock at the hub', async () => (await onHand(hub, STORE, SKUS.tee)) === 19);
  say(await stock(hub));

  step('The customer tries to return 2 more T-shirts — only 1 is left on the receipt');
  const [d2, t4] = await timed(() => ask(reg, 'msg-4', receipt, [{ line: 1, qty: 2 }]));
  say(`${describe(d2)} in ${t4}`);
  say(await stock(hub));
}

/** The hub goes down; the agent decides a return by its local policy. Returns that decision. */
async function offline({ hub, agent, reg }: World, receipt: string): Promise<Decision> {
  step('The hub goes down (network cut, maintenance…)');
  await hub.proc.stop();
  await waitFor('the agent to notice', () => agent.proc.lines.some((l) => l.msg === 'disconnected from the hub'));
  say('hub stopped; the agent notices at once and decides returns by its local policy');

  step('Offline: the customer returns the mug');
  const mugLine = { line: 2, qty: 1, disposition: 'restock' };
  const [d3, t5] = await timed(() => ask(reg, 'msg-5', receipt, [mugLine]));
  say(`${describe(d3)} in ${t5}`);
  say(
    'approved offline by the returns policy the hub pushed: the receipt was sold at this store, the mug is still ' +
      'returnable by what the agent knows, and 8.99 EUR is under the offline limit (100.00)',
  );
  const refund = { kind: 'card', amount: 899 };
  const completion = { authorization: d3.authorization, lines: [{ line: 2, qty: 1 }], refund };
  await reg.send({ type: 'return.complete', id: 'msg-6', ...completion });
  const [d4] = await timed(() => ask(reg, 'msg-7', 'SOLD-ELSEWHERE-42', [{ line: 1, qty: 1 }]));
  say(`a receipt from another store: ${describe(d4)}`);
  const st = await agentStatus(agent);
  say(`the agent's outbox holds ${st.outbox.depth} event(s) for the hub, safe on disk`);
  return d3;
}

/** The hub restarts; the agent syncs and the hub reconciles the offline return. */
async function hubBack(w: World, offlineReturn: Decision): Promise<void> {
  step('The hub comes back: the agent reconnects and syncs, the hub reconciles the offline return');
  const back = performance.now();
  w.hub = await startHubProcess(w, w.hub.port);
  const hub = w.hub;
  await waitFor('the outbox to drain', async () => (await agentStatus(w.agent)).outbox.depth === 0, 30_000);
  const took = ((performance.now() - back) / 1000).toFixed(1);
  say(`hub back; the agent reconnected and its outbox drained ${took} s after the restart began`);
  const ret = (await returnsList(hub, STORE)).find((r) => r.authorization === offlineReturn.authorization);
  const exception = ret?.exception ? `, EXCEPTION ${ret.exception}` : '';
  const outcome = `${ret?.status}, reconciliation ${ret?.reconciliation}${exception}`;
  say(`offline return ${offlineReturn.authorization}: ${outcome}`);
  await waitFor('the mug back in stock', async () => (await onHand(hub, STORE, SKUS.mug)) === 12);
  say(await stock(hub));
  const audit = await hub.admin.get<{ ok: boolean; entries: number }>('/v1/admin/audit/verify');
  say(`audit log: ${audit.entries} hash-chained entries, ${audit.ok ? 'intact' : 'BROKEN'}`);
}

function whatToTry({ hub, agent, adminToken, consoleToken, certs }: World, receipt: string): void {
  process.stdout.write(`\n${bold('Both are still running.')} Try:\n`);
  say(`the operator console: ${CONSOLE_URL} — sign in with the operator token ${consoleToken}`);
  say(`  (its certificate is signed by the demo CA ${certs.caCert}: the browser asks to accept it once)`);
  say(`export TILLBRIDGE_HUB_URL=${hub.url} TILLBRIDGE_HUB_CA=${certs.caCert} TILLBRIDGE_ADMIN_TOKEN=${adminToken}`);
  say(`npx tillbridge-hub status            npx tillbridge-hub returns list`);
  say(`npx tillbridge-hub sales show ${receipt}`);
  say(
    'npx tillbridge-hub feed tail --after 0 --follow   (the ERP feed: every sale, return and stock movement, ' +
      'as it commits)',
  );
  say(`npx tillbridge-hub reconcile --day $(date -u +%F)   (registers' day closes against what the hub recorded)`);
  say(`npx tillbridge-agent status --config ${agent.configFile}`);
  const request = `{"type":"return.request","id":"x1","receipt":"${receipt}","lines":[{"line":1,"qty":1}]}`;
  say(`echo '${request}' | nc -q1 127.0.0.1 ${agent.port('R1')}`);
  process.stdout.write(`\nCtrl-C stops both.\n`);
}

function stopOnSignal(w: World): void {
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping the agent and the hub…\n');
    const a = await w.agent.proc.stop();
    const h = await w.hub.proc.stop();
    process.stdout.write(`agent exited (${a.code ?? a.signal}), hub exited (${h.code ?? h.signal}). Bye.\n`);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

async function main(): Promise<void> {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const logs = `(data in ${DIR}; process logs are JSON lines in memory, run with DEBUG=1 to see them)`;
  process.stdout.write(`${bold('Tillbridge demo')} ${dim(logs)}\n`);
  const world = await startWorld();
  const receipt = `DEMO-${Date.now().toString(36).toUpperCase()}`;
  await online(world, receipt);
  const offlineReturn = await offline(world, receipt);
  await hubBack(world, offlineReturn);
  world.reg.close();
  whatToTry(world, receipt);
  stopOnSignal(world);
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`\ndemo failed: ${message}\n`);
  if (/EADDRINUSE|listening/.test(message)) {
    const ports = 'TILLBRIDGE_DEMO_HUB_PORT / TILLBRIDGE_DEMO_REGISTER_PORT / TILLBRIDGE_DEMO_CONSOLE_PORT';
    process.stderr.write(`is another demo running? set ${ports} to free ports\n`);
  }
  process.exit(1);
});
