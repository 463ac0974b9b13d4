import { statSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_BIN } from '@tillbridge/scripts/lib/paths';
import { JsonLogProcess } from '@tillbridge/scripts/lib/process';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { agentBin, hubBin, sale, worldForFile, type World } from './fixture.js';

// Enrolling a store with the two CLIs, real processes: the hub over HTTPS (a dev CA the agent does
// not trust: the fingerprint `stores enroll` prints is what the agent trusts and pins), the agent
// started on the config `enroll` wrote. The hub's clock is a test clock: a code made at 10:00 is
// tried again by a hub restarted at 12:00.

const T0 = '2026-11-28T10:00:00Z';
let certs: string;
const pem = (name: string): string => join(certs, name);
/** `tillbridge-agent enroll` at the hub with this code, and the other options `more`. */
const enroll = (code: string, ...more: string[]) => agentBin(['enroll', '--hub', w.hub.url, '--code', code, ...more]);
/** Starts the hub on HTTPS with the dev certificates. */
const startTlsHub = (w: World, port?: number, clockStart?: string) =>
  w.startHub(port, ['--tls-cert', pem('hub.pem'), '--tls-key', pem('hub-key.pem')], {
    ca: pem('ca.pem'),
    ...(clockStart ? { clockStart } : {}),
  });
/** Runs the agent on the config `enroll` wrote, until it is connected to the hub; returns it running. */
async function runEnrolled(name: string, config: string): Promise<JsonLogProcess> {
  const proc = JsonLogProcess.spawn(name, process.execPath, [AGENT_BIN, 'run', '--config', config], {
    TILLBRIDGE_TEST_CLOCK: T0,
  });
  try {
    await proc.waitForLine((l) => l.msg === 'connected to the hub');
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}

interface Enrolled {
  code: string;
  id: string;
  store: string;
  expiresAt: string;
  fingerprint: string;
  command: string;
}

async function newCode(store: string, ttl?: string): Promise<Enrolled> {
  const r = await w.hub.cli(['stores', 'enroll', store, ...(ttl ? ['--ttl', ttl] : []), '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Enrolled;
}

const w = worldForFile({
  clockStart: T0,
  stores: ['S001'],
  startHub: async (w) => {
    certs = join(w.dir, 'certs');
    const r = await hubBin(['certs', 'dev', '--out', certs, '--stores', 'S1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return startTlsHub(w);
  },
});

describe('enrolling a store', () => {
  it(
    'stores enroll prints the code, its expiry, the fingerprint and ' +
      'the command; the agent enrolls, starts on the config and syncs',
    async () => {
      const human = await w.hub.cli(['stores', 'enroll', 'S001', '--ttl', '30m']);
      expect(human.code, human.stderr).toBe(0);
      const code = /^\s+([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})$/m.exec(human.stdout)?.[1];
      expect(code, human.stdout).toBeDefined();
      expect(human.stdout).toContain('until 2026-11-28T10:3'); // 30 minutes on the hub's (test) clock
      const fp = /fingerprint: ([0-9A-F:]{95})/.exec(human.stdout)?.[1];
      expect(fp).toBeDefined();
      // the address of the hub process that answered (with two processes on PostgreSQL, either one)
      const printed = new RegExp(`tillbridge-agent enroll --hub (\\S+) --code ${code} --fingerprint ${fp}`).exec(
        human.stdout,
      )?.[1];
      expect(
        w.hubs.map((h) => h.url),
        human.stdout,
      ).toContain(printed);

      const dir = join(w.dir, 'store-pc');
      const config = join(dir, 'agent.json');
      // typed over the phone: lower case, no dashes
      const typed = code!.replace(/-/g, '').toLowerCase();
      // without the fingerprint, a hub this machine does not trust is refused before the code is sent
      const untrusted = await enroll(typed, '--config', config, '--data-dir', join(dir, 'data'));
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toContain(`fingerprint is ${fp}`);
      expect(untrusted.stderr).toContain('the code still works');
      // a wrong fingerprint: refused, nothing sent
      const wrong = await enroll(
        typed,
        '--fingerprint',
        'AA'.repeat(32),
        '--config',
        config,
        '--data-dir',
        join(dir, 'data'),
      );
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/not the pinned/);
      expect(existsSync(config)).toBe(false);

      const ok = await enroll(
        typed,
        '--fingerprint',
        fp!.toLowerCase(),
        '--config',
        config,
        '--data-dir',
        join(dir, 'data'),
      );
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain('enrolled: store S001');
      expect(ok.stdout).toContain(`${fp} (pinned`);
      expect(ok.stdout).toContain('check-config');
      expect(statSync(config).mode & 0o777).toBe(0o600);
      const written = JSON.parse(readFileSync(config, 'utf8')) as {
        store: string;
        hub: { url: string; apiKey: string; fingerprint: string };
        registers: { id: string }[];
      };
      expect(written.store).toBe('S001');
      expect(written.hub.url).toBe(w.hub.wsUrl);
      expect(written.hub.fingerprint).toBe(fp);
      expect(written.hub.apiKey).toMatch(/^tbk_/);
      expect(written.registers.map((r) => r.id)).toEqual(['R1']);

      // the placeholder register's port and the status port made free for this machine, as store IT edits them
      const edited = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown> & {
        registers: { transport: { port: number } }[];
      };
      edited.registers[0]!.transport.port = 0;
      edited.status = { listen: '127.0.0.1:0' };
      writeFileSync(config, JSON.stringify(edited, null, 2));
      const check = await agentBin(['check-config', '--config', config, '--json']);
      expect(check.code, check.stdout + check.stderr).toBe(0);

      // the agent runs on it: a pinned wss:// connection, no CA configured
      const proc = await runEnrolled('agent S001 (enrolled)', config);
      try {
        const ready = proc.lines.find((l) => l.msg === 'register endpoint ready')!;
        const reg = await JsonLinesRegister.connect(Number(new URL(ready.at as string).port));
        await reg.send(sale('enr-1', 'ENR-1', [{ sku: 'A', qty: 1, unitPrice: 100 }]));
        await waitFor(
          'the sale at the hub',
          () => w.hubQuery(`SELECT 1 FROM sales WHERE receipt = 'ENR-1' AND store = 'S001'`).length === 1,
        );
        reg.close();
      } finally {
        await proc.stop();
      }

      // the key `stores add` printed no longer works: the enrolled one replaced it
      const keys = await w.hub.cli(['keys', 'list', 'S001', '--json']);
      const listed = JSON.parse(keys.stdout) as { keys: { state: string }[] };
      expect(listed.keys.map((k) => k.state).sort()).toEqual(['active', 'revoked']);

      // a second use of the code: refused, one answer for every reason
      const again = await enroll(code!, '--fingerprint', fp!, '--config', join(dir, 'other.json'));
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('unknown, expired or already used enrollment code');
      const unknown = await enroll('ZZZZ-ZZZZ-ZZZZ-ZZZZ', '--fingerprint', fp!, '--config', join(dir, 'other.json'));
      expect(unknown.stderr.split('\n')[0]).toBe(again.stderr.split('\n')[0]);

      // an existing config is not overwritten without --force
      const code2 = await newCode('S001');
      const exists = await enroll(code2.code, '--fingerprint', fp!, '--config', config);
      expect(exists.code).toBe(2);
      expect(exists.stderr).toContain('--force');
      // with --force, trusting the hub through its CA this time: the registers and settings kept, a
      // new key, the CA written instead of the pin
      const forced = await enroll(code2.code, '--ca-file', pem('ca.pem'), '--config', config, '--force');
      expect(forced.code, forced.stderr).toBe(0);
      expect(forced.stdout).toContain(`${fp} (trusted through its CA, not pinned)`);
      const after = JSON.parse(readFileSync(config, 'utf8')) as typeof edited & {
        hub: { apiKey: string; caFile?: string; fingerprint?: string };
      };
      expect(after.registers[0]!.transport.port).toBe(0);
      expect(after.status).toEqual({ listen: '127.0.0.1:0' });
      expect(after.hub.apiKey).not.toBe(written.hub.apiKey);
      expect(after.hub.fingerprint).toBeUndefined();
      expect(after.hub.caFile).toBe(pem('ca.pem'));
      expect(statSync(config).mode & 0o777).toBe(0o600);
      await (await runEnrolled('agent S001 (enrolled again)', config)).stop();
    },
  );

  it('a code used after it expired is refused (the hub restarted two hours later on its test clock)', async () => {
    const c = await newCode('S001', '1h');
    expect(c.expiresAt).toMatch(/^2026-11-28T11:0/); // an hour after the hub's (test) clock, a little past 10:00
    await w.stopHubs();
    await startTlsHub(w, w.hub.port, '2026-11-28T12:00:00Z');
    const r = await enroll(c.code, '--fingerprint', c.fingerprint, '--config', join(w.dir, 'late', 'agent.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown, expired or already used enrollment code');
    expect(existsSync(join(w.dir, 'late', 'agent.json'))).toBe(false);
    const list = await w.hub.cli(['stores', 'enrollments', '--store', 'S001', '--json']);
    const codes = JSON.parse(list.stdout) as { id: string; state: string }[];
    expect(codes.find((x) => x.id === c.id)?.state).toBe('expired');
    expect(codes.filter((x) => x.state === 'used')).toHaveLength(2);
  });

  it('the audit log shows the codes made, used and refused', async () => {
    const r = await w.hub.cli(['audit', 'tail', '-n', '1000', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const text = r.stdout;
    const entries = JSON.parse(text) as { action: string; details: string | null }[];
    const actions = entries.map((e) => e.action);
    expect(actions.filter((a) => a === 'enrollment.create')).toHaveLength(3);
    expect(actions.filter((a) => a === 'enrollment.use')).toHaveLength(2);
    const reasons = entries
      .filter((e) => e.action === 'enrollment.refused')
      .map((e) => (JSON.parse(e.details ?? '{}') as { reason?: string }).reason)
      .sort();
    expect(reasons).toEqual(['already used', 'expired', 'unknown']);
    expect(text).not.toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/); // never a code
  });
});
