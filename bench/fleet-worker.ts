/**
 * One of the processes that hold `npm run bench:scale`'s simulated agents (forked by scale.ts;
 * commands and answers over the IPC channel). Holding the agents in a few processes of their own
 * keeps the driver off the critical path and each process's file descriptors under its limit.
 */
import { performance } from 'node:perf_hooks';
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

const reply = (m: unknown): void => void process.send!(m);

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
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
    const a = agents[i]!;
    let n = 0;
    while (performance.now() < end) {
      const bodies = Array.from({ length: c.batch }, (_, k) =>
        sale(`${c.prefix}-${a.store}-${n + k}`, 1, a.registers[(n + k) % a.registers.length]!),
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
  // return requests at a steady rate, from the returners, while the senders run
  const authzing: Promise<void>[] = [];
  const ret = [...returners.entries()];
  if (c.authzPerSec > 0 && ret.length > 0) {
    const every = 1000 / c.authzPerSec;
    let k = 0;
    const t0 = performance.now();
    while (performance.now() < end) {
      const [i, s] = ret[k % ret.length]!;
      k++;
      const a = agents[i]!;
      authzing.push(
        a.authorize(s.receipt, 1, 1, s.after).then(async (o) => {
          r.authz.push(o);
          if (o.ok && o.decision === 'approved') {
            // the register completes the return: a return.complete event, acked like a sale
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
        }),
      );
      const wait = t0 + k * every - performance.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  }
  await Promise.all(sending);
  await Promise.all(authzing);
  return r;
}

process.on('message', (c: WorkerCommand) => {
  void (async () => {
    try {
      switch (c.op) {
        case 'setup':
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
          {
            reply({ op: 'setup', ok: true });
            return;
          }
        case 'connect': {
          const errors: string[] = [];
          const t = performance.now();
          await pool(agents, c.concurrency, async (a) => {
            try {
              await a.connect();
            } catch (err) {
              errors.push((err as Error).message);
            }
          });
          reply({
            op: 'connect',
            ms: performance.now() - t,
            connected: agents.filter((a) => a.synced).length,
            errors: errors.slice(0, 5),
            failed: errors.length,
          });
          return;
        }
        case 'heartbeats':
          heartbeatStops.splice(0).forEach((stop) => stop());
          for (const a of agents) {
            // each agent's first heartbeat somewhere in the period, then one every period
            let every: NodeJS.Timeout | undefined;
            const first = setTimeout(
              () => {
                a.heartbeat();
                every = setInterval(() => a.heartbeat(), c.everyMs);
              },
              Math.floor(Math.random() * c.everyMs),
            );
            heartbeatStops.push(() => {
              clearTimeout(first);
              if (every) clearInterval(every);
            });
          }
          {
            reply({ op: 'heartbeats', ok: true });
            return;
          }
        case 'keep':
          agents.forEach((a) => a.keepConnected());
          {
            reply({ op: 'keep', ok: true });
            return;
          }
        case 'status': {
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
          reply({ op: 'status', now: epochMs(), synced, total: agents.length, failures, syncedAt, lostAt });
          return;
        }
        case 'prepare-returns': {
          const errors: string[] = [];
          const idx = agents.map((_, i) => agents.length - 1 - i).slice(0, c.count);
          await pool(idx, 50, async (i) => {
            const a = agents[i]!;
            const receipt = `RET-${a.store}`;
            try {
              const after = await a.events('sale', [sale(receipt, c.receiptQty, a.registers[0]!)]);
              returners.set(i, { receipt, after });
            } catch (err) {
              errors.push((err as Error).message);
            }
          });
          reply({ op: 'prepare-returns', returners: returners.size, errors: errors.slice(0, 5) });
          return;
        }
        case 'ingest': {
          reply({ op: 'ingest', report: await ingest(c) });
          return;
        }
        case 'rss': {
          reply({ op: 'rss', rss: process.memoryUsage().rss, agents: agents.length });
          return;
        }
        case 'stop':
          heartbeatStops.splice(0).forEach((stop) => stop());
          agents.forEach((a) => a.stop());
          reply({ op: 'stop', ok: true });
          return setTimeout(() => process.exit(0), 50);
      }
    } catch (err) {
      reply({ op: c.op, error: (err as Error).stack });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
