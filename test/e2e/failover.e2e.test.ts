import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentStatus, startAgent, type AgentHandle } from '@tillbridge/scripts/lib/cluster';
import type { LogLine } from '@tillbridge/scripts/lib/process';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { invariantViolations, sale, World } from './fixture.js';
import { freePort } from '../support/net.js';

/**
 * An agent given several hub URLs (hub.urls), through the real binaries. Hub processes do not
 * share a database yet, so the second hub is the first one moved: the same data directory served
 * at another address.
 */

let w: World;
// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset if the test failed first
afterAll(async () => w?.close());

const connectedTo = (url: string) => (l: LogLine) => l.msg === 'connected to the hub' && l.url === url;
const failedAt = (a: AgentHandle, url: string): number =>
  a.proc.lines.filter((l) => l.msg === 'hub connection failed' && l.url === url).length;

describe('an agent with several hub URLs', () => {
  it(
    'skips a dead URL, follows its hub to the next address, ' + 'and what it sold in between arrives exactly once',
    async () => {
      w = new World();
      const hubA = await w.startHub();
      const key = await w.addStore('S1');
      const deadUrl = `ws://127.0.0.1:${await freePort()}`;
      const portB = await freePort();
      const urlB = `ws://127.0.0.1:${portB}`;
      const urls = [deadUrl, hubA.wsUrl, urlB];
      const a = await startAgent({ dir: join(w.dir, 'agent-S1'), store: 'S1', apiKey: key, hubWsUrl: urls }, false);
      w.agents.push(a);

      // the first URL refuses: the second is tried at once, and kept
      await a.proc.waitForLine(connectedTo(hubA.wsUrl));
      expect(failedAt(a, deadUrl)).toBe(1);
      const json = await a.cli(['status', '--config', a.configFile, '--json']);
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ hub: { connected: true, url: hubA.wsUrl, urls } });

      const reg = await JsonLinesRegister.connect(a.port());
      expect(await reg.send(sale('f1', 'FO-1', [{ sku: 'P', qty: 1, unitPrice: 500 }]))).toEqual({
        type: 'ack',
        id: 'f1',
      });
      await waitFor('FO-1 at the hub', async () => (await agentStatus(a)).outbox.depth === 0);

      // the hub goes away; the store sells on
      await hubA.proc.stop();
      await a.proc.waitForLine((l) => l.msg === 'disconnected from the hub');
      for (const [id, receipt] of [
        ['f2', 'FO-2'],
        ['f3', 'FO-3'],
      ] as const) {
        expect(await reg.send(sale(id, receipt, [{ sku: 'P', qty: 1, unitPrice: 500 }]))).toEqual({ type: 'ack', id });
      }
      expect((await agentStatus(a)).outbox.depth).toBe(2);

      // the same hub (its data directory) comes back at the third URL
      await w.startHub(portB);
      await a.proc.waitForLine(connectedTo(urlB));
      await waitFor('the outbox to drain', async () => (await agentStatus(a)).outbox.depth === 0);
      reg.close();

      expect(
        w.hubQuery(`SELECT receipt, COUNT(*) AS n FROM sales WHERE store = 'S1' GROUP BY receipt ORDER BY receipt`),
      ).toEqual([
        { receipt: 'FO-1', n: 1 },
        { receipt: 'FO-2', n: 1 },
        { receipt: 'FO-3', n: 1 },
      ]);
      expect(w.hubQuery(`SELECT COUNT(*) AS n FROM movements WHERE store = 'S1' AND sku = 'P'`)).toEqual([{ n: 3 }]);
      expect(invariantViolations(w)).toEqual({ overReturned: [], ledgerDrift: [] });

      // status and metrics name the URL in use
      const text = await a.cli(['status', '--config', a.configFile]);
      expect(text.stdout).toContain(`hub      ${urlB}  connected since`);
      expect(text.stdout).toContain(`hubs     ${deadUrl}, ${hubA.wsUrl}, ${urlB} (in use): tried in this order`);
      const metrics = await (await fetch(`${a.statusUrl}/metrics`)).text();
      expect(metrics).toContain(`tillbridge_agent_hub_url_info{url="${urlB}"} 1`);
      expect(metrics).toContain(`tillbridge_agent_hub_url_info{url="${hubA.wsUrl}"} 0`);
    },
  );
});
