import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentConfig, databaseArgs } from '@tillbridge/scripts/lib/cluster';
import { loadSecrets } from '../../central/src/auth/secrets.js';
import { agentBin, hubBin, sellEach, worldForFile } from './fixture.js';

/**
 * DESIGN rules 6 and 8 on the real binaries: file modes, plain HTTP beyond loopback, secrets at rest, admin lock-out.
 */
const w = worldForFile({
  stores: ['S1'],
  startHub: (w) => {
    // the hub's data directory exists already, readable by all, as a careless install leaves it
    mkdirSync(w.hubData);
    chmodSync(w.hubData, 0o755);
    return w.startHub();
  },
});

const unix = process.platform !== 'win32';
const modes = (dir: string): Record<string, string> =>
  Object.fromEntries(readdirSync(dir).map((f) => [f, (statSync(join(dir, f)).mode & 0o777).toString(8)]));
const agentCli = (...args: string[]) => agentBin(args);

function dirWithMode(path: string, mode: number): string {
  mkdirSync(path, { recursive: true });
  chmodSync(path, mode);
  return path;
}

describe.runIf(unix)('file modes', () => {
  it(
    'every file the hub and the agent write is 0600, in data directories ' +
      'that existed at 0755; each start warns about the directory',
    async () => {
      dirWithMode(join(w.dir, 'agent-modes', 'data'), 0o755);
      const a = await w.startAgent('S1', 'modes');
      await sellEach(await w.register(a), ['MODES-1'], 'A');
      await w.hubSale('MODES-1');

      const agentFiles = modes(a.dataDir);
      expect(Object.keys(agentFiles)).toEqual(
        expect.arrayContaining(['agent.sqlite', 'agent.sqlite-wal', 'agent.sqlite-shm', 'agent.run.json']),
      );
      for (const [f, m] of Object.entries(agentFiles)) expect(m, `agent ${f}`).toBe('600');
      const hubFiles = modes(w.hubData);
      expect(Object.keys(hubFiles)).toEqual(
        expect.arrayContaining(
          w.backend === 'sqlite' ? ['hub.sqlite', 'hub.sqlite-wal', 'hub.sqlite-shm', 'hub.secret'] : ['hub.secret'],
        ),
      );
      for (const [f, m] of Object.entries(hubFiles)) expect(m, `hub ${f}`).toBe('600');
      expect(modes(join(w.dir, 'agent-modes'))['agent.json']).toBe('600'); // the config, with the API key

      const warned = (lines: { msg?: string }[], dir: string) =>
        lines.some(
          (l) =>
            l.msg ===
            `data directory ${dir} can be read by group or others (mode 0755): expected 0700 (chmod 700 ${dir})`,
        );
      expect(warned(a.proc.lines, a.dataDir)).toBe(true);
      expect(warned(w.hub.proc.lines, w.hubData)).toBe(true);
      await a.proc.stop();
    },
  );

  it(
    'refuses a data directory others may write: run and check-config ' +
      'exit 2, naming it; check-config warns on one others may read',
    async () => {
      const cfgFile = (name: string, dataDir: string): string => {
        const f = join(w.dir, `${name}.json`);
        writeFileSync(
          f,
          JSON.stringify({
            ...agentConfig({ dir: join(w.dir, name), store: 'S1', apiKey: w.keys.get('S1')!, hubWsUrl: w.hub.wsUrl }),
            dataDir,
          }),
          { mode: 0o600 },
        );
        return f;
      };
      const open = dirWithMode(join(w.dir, 'world-writable'), 0o777);
      const f = cfgFile('ww', open);
      const run = await agentCli('run', '--config', f);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`error: data directory ${open} is writable by group or others (mode 0777)`);
      const check = await agentCli('check-config', '--config', f);
      expect(check.code).toBe(2);
      expect(check.stderr).toContain(`dataDir: data directory ${open} is writable by group or others (mode 0777)`);
      expect(readdirSync(open)).toEqual([]); // nothing written

      const readable = dirWithMode(join(w.dir, 'readable'), 0o755);
      const ok = await agentCli('check-config', '--config', cfgFile('rd', readable));
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(
        new RegExp(`warning +dataDir: data directory ${readable} can be read by group or others \\(mode 0755\\)`),
      );
    },
  );
});

describe('plain HTTP beyond loopback', () => {
  it('serve refuses a host name that merely starts with 127. without --insecure', async () => {
    const r = await hubBin(['serve', '--data', w.hubData, ...databaseArgs(w.hubData), '--listen', '127.hub.example:0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing plain HTTP on 127\.hub\.example:0/);
  });
});

describe("the agent's secrets at rest", () => {
  it(
    'keeps the rotated-in API key and the card key sealed: neither is ' +
      'in any file of its data directory, and a restart still uses them',
    async () => {
      await w.addStore('S2');
      const a = await w.startAgent('S2', 'sealed');
      const rot = await w.hub.cli(['keys', 'rotate', 'S2', '--grace', '1s', '--json']);
      expect(rot.code, rot.stderr).toBe(0);
      const rotated = (JSON.parse(rot.stdout) as { apiKey: string }).apiKey;
      expect(rotated).toMatch(/^tbk_/);
      await a.proc.waitForLine((l) => l.msg === 'stored a new API key from the hub');
      await new Promise((r) => setTimeout(r, 1500)); // the config's key has expired: only the stored one works now
      await a.proc.stop();

      const cardKey = loadSecrets(w.hubData).cardKey;
      const disk = readdirSync(a.dataDir)
        .map((f) => readFileSync(join(a.dataDir, f)).toString('latin1'))
        .join('\n');
      expect(disk).toContain('sealed:v1:');
      for (const secret of [
        rotated,
        cardKey.toString('base64url'),
        cardKey.toString('hex'),
        cardKey.toString('latin1'),
      ])
        expect(disk).not.toContain(secret);

      const again = await w.startAgent('S2', 'sealed'); // connects with the key it unsealed
      expect(again.proc.lines.some((l) => l.msg === 'connected to the hub')).toBe(true);
      await again.proc.stop();
    },
  );
});

describe('admin lock-out', () => {
  /** `tokens create` on the hub host: by the data directory, with no admin token nor hub URL. */
  const createToken = (role: string, name: string, data: string, ...more: string[]) =>
    hubBin(['tokens', 'create', '--role', role, '--name', name, '--data', data, ...more], {
      TILLBRIDGE_ADMIN_TOKEN: '',
      TILLBRIDGE_HUB_URL: 'http://127.0.0.1:1',
    });

  it(
    'refuses to revoke the last admin token (exit 6, TB_LAST_ADMIN), ' +
      'and a token made on the hub host gets an operator back in',
    async () => {
      interface T {
        id: string;
        role: string;
        name: string;
        revokedAt: string | null;
      }
      const list = async (): Promise<T[]> => JSON.parse((await w.hub.cli(['tokens', 'list', '--json'])).stdout) as T[];
      const initial = (await list()).find((t) => t.role === 'admin' && t.revokedAt === null)!;
      const r = await w.hub.cli(['tokens', 'revoke', initial.id]);
      expect(r.code).toBe(6);
      expect(r.stderr).toBe(
        `error: ${initial.id} is the last active admin token: revoking it would lock every operator out. Create ` +
          `another admin token first (tillbridge-hub tokens create --role admin --name …), then revoke this one\n`,
      );
      expect((await list()).find((t) => t.id === initial.id)?.revokedAt).toBeNull();
      const api = await fetch(`${w.hub.url}/v1/admin/tokens/${initial.id}/revoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${w.adminToken}` },
      });
      expect(api.status).toBe(409);
      expect(await api.json()).toMatchObject({ code: 'TB_LAST_ADMIN' });

      // on the hub host, with the data directory and no admin token at all, while the hub runs
      const local = await createToken('admin', 'recovery', w.hubData, ...databaseArgs(w.hubData), '--json');
      expect(local.code, local.stderr).toBe(0);
      const made = JSON.parse(local.stdout) as { id: string; role: string; token: string };
      expect(made).toMatchObject({ role: 'admin', token: expect.stringMatching(/^tba_/) });
      const asRecovery = (args: string[]) =>
        hubBin(args, { TILLBRIDGE_HUB_URL: w.hub.url, TILLBRIDGE_ADMIN_TOKEN: made.token });
      expect((await asRecovery(['tokens', 'revoke', initial.id])).code).toBe(0); // two admins: one may go
      expect((await asRecovery(['tokens', 'revoke', made.id])).code).toBe(6); // and now it is the last
      expect(
        w.hubQuery(`SELECT action, origin, actor FROM audit WHERE resource = ?`, `admin-token:${made.id}`),
      ).toEqual([{ action: 'token.create', origin: 'cli:local', actor: expect.stringMatching(/^local:/) }]);
      expect((await w.hub.cli(['audit', 'verify'])).code).toBe(4); // the first token is gone
      // the chain holds with the entry the local command wrote
      expect((await asRecovery(['audit', 'verify'])).code).toBe(0);
    },
  );

  it('the local command names what is wrong: no hub there, a bad role', async () => {
    const none = await createToken('admin', 'x', join(w.dir, 'nowhere'));
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no hub in .*nowhere/);
    const role = await createToken('root', 'x', w.hubData);
    expect(role.code).toBe(2);
    expect(role.stderr).toMatch(/role: expected "admin" or "operator"/);
  });
});
