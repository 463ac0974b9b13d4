import { rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@tillbridge/shared';
import type { AgentConfig, RegisterConfig } from './config.js';
import { agentId as readAgentId, openAgentDb, type Db } from './db/agent-db.js';
import { Outbox } from './sync/outbox.js';
import { HubLink } from './sync/hub-link.js';
import { Uploader } from './sync/uploader.js';
import { TerminalReporter } from './sync/terminal-reporter.js';
import { Replies } from './core/replies.js';
import { Receipts } from './core/receipts.js';
import { LocalReturns } from './core/local-returns.js';
import { InventoryCache } from './core/inventory-cache.js';
import { StoreCore } from './core/store-core.js';
import { RegisterEndpoint } from './gateway/register-endpoint.js';
import { TcpServerTransport } from './gateway/transports/tcp-server.js';
import { LineFramer } from './gateway/framing/line.js';
import { JsonlCodec } from './gateway/codecs/jsonl.js';
import type { Codec, Framer, Transport } from './gateway/types.js';
import { StatusServer } from './status/status-server.js';
import type { AgentStatus } from './status/status-report.js';
import { parseHostPort } from '@tillbridge/shared';

export const SOFTWARE = 'tillbridge-agent/0.1.0';
const REPLY_RETENTION_MS = 7 * 24 * 3600 * 1000;

export interface RunningAgent {
  readonly agentId: string;
  readonly statusUrl: string;
  /** Bound TCP port of each tcp-server register (useful when the config asked for port 0). */
  registerPort(id: string): number | undefined;
  status(): AgentStatus;
  core: StoreCore;
  /** Stops accepting register traffic, closes the hub link and the database. */
  stop(): Promise<void>;
}

export function runFilePath(dataDir: string): string {
  return join(dataDir, 'agent.run.json');
}

function makeTransport(r: RegisterConfig, log: Logger): Transport {
  switch (r.transport.type) {
    case 'tcp-server':
      return new TcpServerTransport({ host: r.transport.host, port: r.transport.port, maxConnections: r.transport.maxConnections, log });
  }
}

function makeFramer(r: RegisterConfig): () => Framer {
  const f = r.framing ?? { type: 'line' as const, terminator: '\n', maxFrameBytes: 65_536, interByteTimeoutMs: 0 };
  switch (f.type) {
    case 'line':
      return () => new LineFramer({ terminator: f.terminator, maxFrameBytes: f.maxFrameBytes, interByteTimeoutMs: f.interByteTimeoutMs });
  }
}

function makeCodec(r: RegisterConfig): Codec {
  switch (r.codec) {
    case 'jsonl':
      return new JsonlCodec();
  }
}

/** The agent's composition root: wires storage, sync, core and gateway from a validated config. */
export async function startAgent(config: Readonly<AgentConfig>, log: Logger): Promise<RunningAgent> {
  const db: Db = openAgentDb(config.dataDir);
  const id = readAgentId(db);
  const startedAt = new Date().toISOString();
  const outbox = new Outbox(db);
  const replies = new Replies(db);
  const receipts = new Receipts(db);
  const returns = new LocalReturns(db);
  const inventory = new InventoryCache(db);

  const link = new HubLink({
    url: config.hub.url,
    store: config.store,
    apiKey: config.hub.apiKey,
    agentId: id,
    software: SOFTWARE,
    reconnectBaseMs: config.hub.reconnectBaseMs,
    reconnectCapMs: config.hub.reconnectCapMs,
    pingMs: Math.min(config.hub.heartbeatMs, 10_000),
    log: log.child({ part: 'hub-link' }),
  });
  const uploader = new Uploader(outbox, link, {
    batchMax: config.hub.uploadBatchMax,
    retryBaseMs: config.hub.reconnectBaseMs,
    retryCapMs: config.hub.reconnectCapMs,
    log: log.child({ part: 'uploader' }),
  });
  link.on('inventory', (full, items) => inventory.apply(full, items));

  const core = new StoreCore({
    db,
    store: config.store,
    agentId: id,
    outbox,
    replies,
    receipts,
    returns,
    hub: link,
    deadlineMs: config.hub.authorizationDeadlineMs,
    offline: { maxRefund: config.offline.maxRefund },
    log: log.child({ part: 'core' }),
  });

  const endpoints: RegisterEndpoint[] = [];
  const transports = new Map<string, Transport>();
  for (const r of config.registers) {
    const t = makeTransport(r, log.child({ register: r.id }));
    transports.set(r.id, t);
    endpoints.push(new RegisterEndpoint(r.id, t, makeFramer(r), makeCodec(r), core, log.child({ register: r.id })));
  }

  const snapshot = (): AgentStatus => {
    const hub = link.info();
    const lastSync = uploader.lastSync();
    return {
      store: config.store,
      agentId: id,
      running: true,
      pid: process.pid,
      startedAt,
      hub: lastSync ? { ...hub, lastSync } : hub,
      outbox: outbox.stats(),
      registers: endpoints.map((e) => e.status()),
      inventorySkus: inventory.list().length,
    };
  };
  const reporter = new TerminalReporter(link, endpoints);
  reporter.start();
  const listen = parseHostPort(config.status.listen);
  const statusServer = new StatusServer(listen.host, listen.port, snapshot);

  const abort = new AbortController();
  const timers: NodeJS.Timeout[] = [];
  try {
    for (const e of endpoints) await e.start();
    const statusUrl = await statusServer.start();
    const runFile = runFilePath(config.dataDir);
    writeFileSync(`${runFile}.tmp`, JSON.stringify({ pid: process.pid, statusUrl, startedAt }));
    renameSync(`${runFile}.tmp`, runFile);

    uploader.start();
    link.start(abort.signal);
    const heartbeat = (): void => {
      const s = outbox.stats();
      link.send({ t: 'heartbeat', outboxDepth: s.depth, oldestAgeMs: s.oldestAgeMs, registers: endpoints.map((e) => ({ id: e.id, connected: e.status().connected })) });
    };
    link.on('welcome', heartbeat);
    link.on('welcome', () => {
      core.resolvePending().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'resolving pending requests failed'));
    });
    timers.push(setInterval(heartbeat, config.hub.heartbeatMs));
    timers.push(setInterval(() => replies.pruneOlderThan(REPLY_RETENTION_MS), 3600_000));
    log.info({ store: config.store, agent: id, status: statusUrl, registers: endpoints.map((e) => e.id) }, 'agent started');

    let stopping: Promise<void> | undefined;
    return {
      agentId: id,
      statusUrl,
      core,
      registerPort: (rid) => {
        const t = transports.get(rid);
        return t instanceof TcpServerTransport ? t.port() : undefined;
      },
      status: snapshot,
      stop: () => {
        stopping ??= (async () => {
          for (const t of timers) clearInterval(t);
          reporter.stop();
          await Promise.all(endpoints.map((e) => e.stop()));
          uploader.stop();
          abort.abort();
          await link.stopped();
          await statusServer.stop();
          rmSync(runFile, { force: true });
          db.close();
          log.info('agent stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    for (const t of timers) clearInterval(t);
    abort.abort();
    await Promise.allSettled(endpoints.map((e) => e.stop()));
    await statusServer.stop();
    db.close();
    throw err;
  }
}
