import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, DEFAULT_POLICY, type AuthzCounters, type Logger } from '@tillbridge/shared';
import { openAgentDb, setMeta, type Db } from '../src/db/agent-db.js';
import { PolicyStore } from '../src/core/policy-store.js';
import { LiveSettings } from '../src/core/live-settings.js';
import { formatStatus, type AgentStatus } from '../src/status/status-report.js';
import { AgentMetrics } from '../src/metrics/agent-metrics.js';

/**
 * A policy or sync settings row in the agent's database that no longer parses: the agent runs by
 * its defaults, and says so — an error in the log (with the error), a line in `status`, a gauge.
 */

const HUB = { authorizationDeadlineMs: 800, reconnectBaseMs: 500, reconnectCapMs: 30_000, heartbeatMs: 15_000 };

let dir: string;
let logLines: { level: number; msg: string; err?: { message?: string }; problem?: string }[];
let log: Logger;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-stored-config-'));
  logLines = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(JSON.parse(chunk.toString('utf8')) as (typeof logLines)[number]);
      done();
    },
  });
  log = createLogger({ name: 'test', level: 'info', destination });
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes rows into the agent's SQLite file, closes it, and opens it again as a starting agent would. */
function reopenWith(rows: Record<string, string>): Db {
  const first = openAgentDb(dir, { synchronous: 'NORMAL' });
  for (const [key, value] of Object.entries(rows)) setMeta(first, key, value);
  first.close();
  return openAgentDb(dir, { synchronous: 'NORMAL' });
}

function statusOf(policy: PolicyStore, live: LiveSettings): AgentStatus {
  return {
    store: 'S1',
    agentId: 'a1',
    running: true,
    hub: { url: 'ws://hub', connected: false },
    outbox: { depth: 0, oldestAgeMs: 0 },
    registers: [],
    policyVersion: policy.version,
    configVersion: live.version,
    policyProblem: policy.problem,
    configProblem: live.problem,
  };
}

async function invalidGauge(status: AgentStatus): Promise<string[]> {
  const since = '2026-01-01T00:00:00Z';
  const authz = (): AuthzCounters => ({ since, online: {}, offline: {}, lateOnline: 0, failed: 0 });
  const metrics = new AgentMetrics({ status: () => status, authz });
  const text = await metrics.text();
  return text.split('\n').filter((l) => l.startsWith('tillbridge_agent_stored_config_invalid{'));
}

describe('a stored policy or sync settings that no longer parse', () => {
  it('falls back to defaults, logs the error, and shows it in status and metrics', async () => {
    const db = reopenWith({
      policy: JSON.stringify({ version: 7, policy: { returnWindowDays: 'thirty' } }),
      sync_settings: '{"version": 3, "settings": {',
    });
    try {
      const policy = new PolicyStore(db, 1234, log);
      const live = new LiveSettings(db, HUB, log);

      expect(policy.version).toBe(0);
      expect(policy.policy.returnWindowDays).toBe(DEFAULT_POLICY.returnWindowDays);
      expect(policy.policy.offline.maxRefundPerReturn).toBe(1234);
      expect(policy.problem).toMatch(/^policy\.returnWindowDays: /);
      expect(live.version).toBe(0);
      expect(live.settings.heartbeatSeconds).toBe(15);
      expect(live.problem).toMatch(/^not JSON: /);

      const errors = logLines.filter((l) => l.level === 50);
      expect(errors.map((l) => l.msg)).toEqual([
        expect.stringContaining('the stored returns policy cannot be read'),
        expect.stringContaining('the stored sync settings cannot be read'),
      ]);
      for (const e of errors) expect(e.err?.message, 'the error object is logged').toBeTruthy();

      const status = statusOf(policy, live);
      const text = formatStatus(status);
      expect(text).toContain('policy   version 0 (defaults: the stored policy cannot be read)');
      expect(text).toContain(`!! the stored returns policy cannot be read (${policy.problem})`);
      expect(text).toContain(`!! the stored sync settings cannot be read (${live.problem})`);
      const served = JSON.parse(JSON.stringify(status)) as AgentStatus;
      expect(served).toMatchObject({ policyProblem: policy.problem, configProblem: live.problem });
      expect(await invalidGauge(status)).toEqual([
        'tillbridge_agent_stored_config_invalid{kind="policy"} 1',
        'tillbridge_agent_stored_config_invalid{kind="syncSettings"} 1',
      ]);

      // the hub's next push replaces them: the problem is gone, and the row reads at the next start
      expect(policy.accept(8, { ...DEFAULT_POLICY, returnWindowDays: 20 })).toBe(true);
      expect(live.accept(4, { heartbeatSeconds: 30 })).toBe(true);
      expect(policy.problem).toBeUndefined();
      expect(live.problem).toBeUndefined();
      expect(await invalidGauge(statusOf(policy, live))).toEqual([
        'tillbridge_agent_stored_config_invalid{kind="policy"} 0',
        'tillbridge_agent_stored_config_invalid{kind="syncSettings"} 0',
      ]);
      expect(formatStatus(statusOf(policy, live))).not.toContain('!!');
    } finally {
      db.close();
    }
    const again = openAgentDb(dir, { synchronous: 'NORMAL' });
    try {
      const policy = new PolicyStore(again, 1234, log);
      const live = new LiveSettings(again, HUB, log);
      expect([policy.version, policy.policy.returnWindowDays, policy.problem]).toEqual([8, 20, undefined]);
      expect([live.version, live.settings.heartbeatSeconds, live.problem]).toEqual([4, 30, undefined]);
    } finally {
      again.close();
    }
  });

  it('a stored row without a version is unreadable too; no row at all is no problem', () => {
    const db = reopenWith({ policy: JSON.stringify({ policy: DEFAULT_POLICY }) });
    try {
      expect(new PolicyStore(db, 100, log).problem).toMatch(/^version: /);
      expect(new LiveSettings(db, HUB, log).problem).toBeUndefined();
      expect(logLines.filter((l) => l.level === 50)).toHaveLength(1);
    } finally {
      db.close();
    }
  });
});
