import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WIRE_VERSION } from '@tillbridge/shared';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { worldForFile } from './fixture.js';

/**
 * An upgrade, with the real binaries (docs/upgrade.md): an agent started on a database of an older
 * schema version (a committed fixture) copies it, migrates it and sends the hub what it still owed;
 * the hub records the agent's version, OS and uptime, and flags it below the operator's minimum.
 */

const w = worldForFile({ stores: ['S1'] });

describe('upgrading an agent', () => {
  it(
    'an agent on a v2 database: copied to .pre-v2.bak, migrated, its owed sales reach ' +
      'the hub; the hub shows its version, OS and uptime and flags it below the minimum',
    async () => {
      // the agent's data directory holds a database an older agent left (schema version 2), with two sales owed to the
      // hub
      const data = join(w.dir, 'agent-S1', 'data');
      mkdirSync(data, { recursive: true, mode: 0o700 });
      copyFileSync(
        join(import.meta.dirname, '..', 'fixtures', 'schemas', 'agent', 'v2.sqlite'),
        join(data, 'agent.sqlite'),
      );
      const a = await w.startAgent('S1');
      expect(existsSync(join(data, 'agent.sqlite.pre-v2.bak'))).toBe(true);
      expect(a.proc.lines).toContainEqual(
        expect.objectContaining({ from: 2, backup: join(data, 'agent.sqlite.pre-v2.bak') }),
      );

      // what the old database owed the hub is applied there
      await waitFor('the owed sales at the hub', async () =>
        (await w.hub.cli(['sales', 'show', 'R-1002', '--store', 'S1'])).code === 0 ? true : undefined,
      );
      expect(await w.cliJson(['sales', 'show', 'R-1001', '--store', 'S1'])).toMatchObject({
        receipt: 'R-1001',
        store: 'S1',
      });

      // the agent says which protocol it uses; the hub knows its version, OS and uptime
      const st = JSON.parse((await a.cli(['status', '--config', a.configFile, '--json'])).stdout) as {
        hub: { connected: boolean; protocol: number };
      };
      expect(st.hub).toMatchObject({ connected: true, protocol: WIRE_VERSION });
      const list = JSON.parse((await w.hub.cli(['stores', 'list', '--json'])).stdout) as {
        id: string;
        agent: {
          software: string;
          version: string;
          os: { platform: string };
          protocol: number;
          uptimeMs: number;
          belowMinimum: boolean;
        };
      }[];
      expect(list[0]!.agent).toMatchObject({
        software: expect.stringMatching(/^tillbridge-agent\/\d+\.\d+\.\d+$/),
        os: { platform: process.platform },
        protocol: WIRE_VERSION,
        belowMinimum: false,
      });
      expect(list[0]!.agent.uptimeMs).toBeGreaterThanOrEqual(0);

      expect((await w.hub.cli(['stores', 'min-version', '99.0.0'])).code).toBe(0);
      const status = await w.hub.cli(['status']);
      expect(status.stdout).toMatch(/agent S1: tillbridge-agent\/\S+ BELOW MINIMUM 99\.0\.0 \(protocol \d+\)/);
      expect(status.stdout).toContain('minimum agent version 99.0.0: 1 connected agent(s) BELOW it');
    },
  );
});
