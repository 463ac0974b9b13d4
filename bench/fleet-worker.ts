/**
 * One of the processes that hold `npm run bench:scale`'s simulated agents (forked by scale.ts;
 * commands and answers over the IPC channel). Holding the agents in a few processes of their own
 * keeps the driver off the critical path and each process's file descriptors under its limit.
 */
import { performance } from 'node:perf_hooks';
import { pool } from './pool.js';
import { epochMs, SimAgent, type AuthzOutcome } from './sim-agent.js';

export interface WorkerAgent {
  store: string;
  apiKey: string;
  url: string;
  wsUrl: string;
}

export type WorkerCommand =
  | { op: 'setup'; agents: WorkerAgent[]; registers: number; localAddress: string }
  | { op: 'connect'; concurrency: number }
  | { op: 'heartbeats'; everyMs: number }
  | { op: 'keep' }
  | { op: 'status' }
  | { op: 'prepare-returns'; count: number; receiptQty: number }
  | { op: 'ingest'; senders: number; batch: number; durationMs: number; authzPerSec: number; prefix: string }
  | { op: 'rss' }
  | { op: 'stop' };

export interface IngestReport {
  sales: number;
  batches: number;
  ackMs: number[];
  authz: AuthzOutcome[];
  completions: number;
  errors: string[];
}

const agents: SimAgent[] = [];
const heartbeatStops: (() => void)[] = [];
/** agents that sold a receipt to be returned against: index → seq of that sale */
const returners = new Map<number, { receipt: string; after: number }>();

function reply(m: unknown): void {
  if (!process.send) throw new Error('the fleet worker runs as a child process, with an IPC channel to its parent');
  process.send(m);
}

function agentAt(i: number): SimAgent {
  const agent = agents[i];
  if (!agent) throw new Error(`no agent ${i} in this worker (${agents.length} agents)`);
  return agent;
}

const sale = (receipt: string, qty: number, register: string): { register: string; body: unknown } => ({
  register,
  body: {
    requestId: `m-${receipt}`,
    receipt,
    at: new Date().toISOString(),
    currency: 'EUR',
    lines: [{ line: 1, sku: 'SKU-1', qty, unitPrice: 1000 }],
    tenders: [{ kind: 'cash', amount: 1000 * qty }],
  },
});

async function ingest(c: Extract<WorkerCommand, { op: 'ingest' }>): Promise<IngestReport> {
  const r: IngestReport = { sales: 0, batches: 0, ackMs: [], authz: [], completions: 0, errors: [] };
  const end = performance.now() + c.durationMs;
  // the senders: the first agents that are not returners, each one batch in flight
  const senders = agents
    .map((_, i) => i)
    .filter((i) => !returners.has(i))
    .slice(0, c.senders);
  const sending = senders.map(async (i) => {
    const a = agentAt(i);
    let n = 0;
    while (performance.now() < end) {
      const bodies = Array.from({ length: c.batch }, (_, k) =>
        sale(`${c.prefix}-${a.store}-${n + k}`, 1, a.register(n + k)),
      );
      const t = performance.now();
      try {
        await a.events('sale', bodies);
      } catch (err) {
        r.errors.push((err as Error).message);
        return;
      }
      r.ackMs.push(performance.now() - t);
      r.batches++;
      r.sales += c.batch;
      n += c.batch;
    }
  });
  const authzing = c.authzPerSec > 0 ? await requestReturns(c.authzPerSec, end, r) : [];
  await Promise.all(sending);
  await Promise.all(authzing);
  return r;
}

/** Return requests at a steady rate, from the returners, until `end`; the returns still under way. */
async function requestReturns(perSec: number, end: number, r: IngestReport): Promise<Promise<void>[]> {
  const authzing: Promise<void>[] = [];
  const ret = [...returners.entries()];
  const every = 1000 / perSec;
  const t0 = performance.now();
  for (let k = 0; ret.length > 0 && performance.now() < end;) {
    const [i, s] = ret[k % ret.length] ?? [];
    k++;
    if (i !== undefined && s) authzing.push(returnOne(agentAt(i), s, r));
    const wait = t0 + k * every - performance.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  return authzing;
}

/** One return authorization; when approved, the register completes it: a return.complete event, acked like a sale. */
async function returnOne(a: SimAgent, s: { receipt: string; after: number }, r: IngestReport): Promise<void> {
  const o = await a.authorize(s.receipt, 1, 1, s.after);
  r.authz.push(o);
  if (!o.ok || o.decision !== 'approved') return;
  try {
    await a.events('return.complete', [
      {
        body: {
          authorization: o.authorization,
          requestId: `rc-${o.authorization}`,
          lines: [{ line: 1, qty: 1 }],
          refund: { kind: 'cash', amount: o.refund ?? 0 },
        },
      },
    ]);
    r.completions++;
  } catch (err) {
    r.errors.push((err as Error).message);
  }
}

function setup(c: Extract<WorkerCommand, { op: 'setup' }>): void {
  for (const a of c.agents) {
    agents.push(
      new SimAgent({
        url: a.url,
        wsUrl: a.wsUrl,
        store: a.store,
        apiKey: a.apiKey,
        localAddress: c.localAddress,
        registers: Array.from({ length: c.registers }, (_, i) => `R${i + 1}`),
      }),
    );
  }
}

async function connectAll(concurrency: number): Promise<Record<string, unknown>> {
  const errors: string[] = [];
  const t = performance.now();
  await pool(agents, concurrency, async (a) => {
    try {
      await a.connect();
    } catch (err) {
      errors.push((err as Error).message);
    }
  });
  return {
    ms: performance.now() - t,
    connected: agents.filter((a) => a.synced).length,
    errors: errors.slice(0, 5),
    failed: errors.length,
  };
}

function startHeartbeats(everyMs: number): void {
  heartbeatStops.splice(0).forEach((stop) => stop());
  for (const a of agents) {
    // each agent's first heartbeat somewhere in the period, then one every period
    let every: NodeJS.Timeout | undefined;
    const first = setTimeout(
      () => {
        a.heartbeat();
        every = setInterval(() => a.heartbeat(), everyMs);
      },
      Math.floor(Math.random() * everyMs),
    );
    heartbeatStops.push(() => {
      clearTimeout(first);
      if (every) clearInterval(every);
    });
  }
}

function status(): Record<string, unknown> {
  let synced = 0;
  let failures = 0;
  const syncedAt: number[] = [];
  const lostAt: number[] = [];
  for (const a of agents) {
    if (a.synced) synced++;
    failures += a.failures;
    if (a.syncedAt !== undefined) syncedAt.push(a.syncedAt);
    if (a.lostAt !== undefined) lostAt.push(a.lostAt);
  }
  return { now: epochMs(), synced, total: agents.length, failures, syncedAt, lostAt };
}

/** The last `count` agents sell a receipt of `receiptQty` to be returned against; the errors. */
async function prepareReturns(count: number, receiptQty: number): Promise<string[]> {
  const errors: string[] = [];
  const idx = agents.map((_, i) => agents.length - 1 - i).slice(0, count);
  await pool(idx, 50, async (i) => {
    const a = agentAt(i);
    const receipt = `RET-${a.store}`;
    try {
      const after = await a.events('sale', [sale(receipt, receiptQty, a.register(0))]);
      returners.set(i, { receipt, after });
    } catch (err) {
      errors.push((err as Error).message);
    }
  });
  return errors;
}

/** Runs one command and answers it. */
async function handle(c: WorkerCommand): Promise<void> {
  switch (c.op) {
    case 'setup':
      setup(c);
      reply({ op: 'setup', ok: true });
      return;
    case 'connect':
      reply({ op: 'connect', ...(await connectAll(c.concurrency)) });
      return;
    case 'heartbeats':
      startHeartbeats(c.everyMs);
      reply({ op: 'heartbeats', ok: true });
      return;
    case 'keep':
      agents.forEach((a) => a.keepConnected());
      reply({ op: 'keep', ok: true });
      return;
    case 'status':
      reply({ op: 'status', ...status() });
      return;
    case 'prepare-returns': {
      const errors = await prepareReturns(c.count, c.receiptQty);
      reply({ op: 'prepare-returns', returners: returners.size, errors: errors.slice(0, 5) });
      return;
    }
    case 'ingest':
      reply({ op: 'ingest', report: await ingest(c) });
      return;
    case 'rss':
      reply({ op: 'rss', rss: process.memoryUsage().rss, agents: agents.length });
      return;
    case 'stop':
      heartbeatStops.splice(0).forEach((stop) => stop());
      agents.forEach((a) => a.stop());
      reply({ op: 'stop', ok: true });
      setTimeout(() => process.exit(0), 50);
      return;
  }
}

process.on('message', (c: WorkerCommand) => {
  handle(c).catch((err: unknown) => reply({ op: c.op, error: (err as Error).stack }));
});
process.on('disconnect', () => process.exit(0));
