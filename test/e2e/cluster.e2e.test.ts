import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { agentStatus, setStock, startAgent, type AgentHandle, type HubHandle } from '@tillbridge/scripts/lib/cluster';
import type { LogLine } from '@tillbridge/scripts/lib/process';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { createTestDatabase, describePg, type TestDatabase } from '../support/pg.js';
import { World } from './fixture.js';

/**
 * Two real `tillbridge-hub serve` processes on one PostgreSQL database (docs/architecture.md
 * "Many hub processes"), and a real agent: what is changed through one process reaches the agent
 * held by the other, `status` through either shows it, and the agent moving from one process to
 * the other is served where it is. Waits poll the agent's status and database; none compares
 * elapsed time.
 */

let db: TestDatabase | undefined;
let w: World | undefined;

afterAll(async () => {
  for (const h of w?.hubs ?? []) {
    try {
      process.kill(h.proc.proc.pid!, 'SIGCONT'); // B, if the test stopped there while it was frozen
    } catch {
      /* gone */
    }
  }
  await w?.close();
  await db?.drop();
});

const connectedTo = (url: string) => (l: LogLine) => l.msg === 'connected to the hub' && l.url === url;
const agentView = async (a: AgentHandle): Promise<{ policyVersion: number; configVersion?: number }> =>
  (await (await fetch(`${a.statusUrl}/status`)).json()) as { policyVersion: number };
/** Sets S1's policy `setting` through hub process `h` and waits until `agent` holds its version. */
async function setPolicyAndWait(h: HubHandle, agent: AgentHandle, setting: string, what: string): Promise<void> {
  const set = await h.cli(['policy', 'set', '--store', 'S1', setting, '--json']);
  expect(set.code, set.stderr).toBe(0);
  const version = (JSON.parse(set.stdout) as { version: number }).version;
  await waitFor(what, async () => (await agentView(agent)).policyVersion === version);
}

function agentOnHand(a: AgentHandle, sku: string): number | undefined {
  const d = new Database(join(a.dataDir, 'agent.sqlite'), { readonly: true });
  try {
    return (d.prepare('SELECT on_hand FROM inventory WHERE sku = ?').get(sku) as { on_hand: number } | undefined)
      ?.on_hand;
  } finally {
    d.close();
  }
}
interface Status {
  connectedStores: number;
  stores: { store: string; connected: boolean; outboxDepth: number | null }[];
}
async function status(h: HubHandle): Promise<Status> {
  const r = await h.cli(['status', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Status;
}

await describePg('two hub processes on one PostgreSQL database', () => {
  it(
    'a policy and an inventory change made through A reach the agent held by B; status ' +
      'through A lists it; the agent moving to A is not evicted by its old connection at B',
    async () => {
      db = await createTestDatabase();
      w = new World({ database: db.url });
      // the stores are added through A; B, on the same database, gets A's hub.secret
      const a = await w.startHub();
      const key = await w.addStore('S1');
      await w.addStore('S2');
      const b = await w.startHub(undefined, undefined, { dataDir: join(w.dir, 'hub-b') });
      // the agent knows both processes, B first
      const agent = await startAgent(
        { dir: join(w.dir, 'agent-S1'), store: 'S1', apiKey: key, hubWsUrl: [b.wsUrl, a.wsUrl] },
        false,
      );
      w.agents.push(agent); // stopped with the world
      await agent.proc.waitForLine(connectedTo(b.wsUrl));

      // a policy set through A's admin API: the agent at B holds it
      await setPolicyAndWait(a, agent, 'returnWindowDays=11', 'the agent at B to hold the policy set through A');

      // an inventory change through A: the agent's copy at B has it
      await setStock(a, 'S1', 'CL-1', 42);
      await waitFor("the inventory change through A in the agent's copy", () => agentOnHand(agent, 'CL-1') === 42_000);

      // status through A lists the store B holds (B's batch of presence written within a second or two)
      await waitFor('status through A to list S1 as connected', async () => {
        const s = await status(a);
        return (
          s.connectedStores === 1 &&
          s.stores.find((x) => x.store === 'S1')?.connected === true &&
          s.stores.find((x) => x.store === 'S2')?.connected === false
        );
      });
      const text = await a.cli(['status']);
      expect(text.stdout).toContain('1 of 2 store(s) connected');

      // B stops answering (frozen): the agent gives its connection up and dials A, while B still holds the old one
      process.kill(b.proc.proc.pid!, 'SIGSTOP');
      await agent.proc.waitForLine(connectedTo(a.wsUrl));
      process.kill(b.proc.proc.pid!, 'SIGCONT');
      // B, back, hears the hello made at A (a later attempt of the agent's run) and closes its old connection
      await b.proc.waitForLine(
        (l) =>
          l.msg === 'the agent connected to another hub process on a later attempt: its connection here is closed' ||
          l.msg === 'agent disconnected',
      );
      // the agent stays at A: served (a policy change arrives), never disconnected since
      await setPolicyAndWait(b, agent, 'returnWindowDays=12', 'the agent at A to hold the policy set through B');
      expect((await agentStatus(agent)).hub.connected).toBe(true);
      const since = agent.proc.lines.findIndex(connectedTo(a.wsUrl));
      expect(agent.proc.lines.slice(since).filter((l) => l.msg === 'disconnected from the hub')).toEqual([]);
      await waitFor(
        'status through B to list S1 (now held by A)',
        async () => (await status(b)).stores.find((x) => x.store === 'S1')?.connected === true,
      );
    },
  );
});
