import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { systemClock, TbCodes, TbError } from '@tillbridge/shared';
import type { AgentConfig } from '../config.js';
import { agentDbPath, openAgentDbReadonly, type Db } from '../db/agent-db.js';
import { askRunningAgent } from '../status/status-client.js';
import type { AgentStatus } from '../status/status-report.js';

/**
 * What `tillbridge-agent status` reports: the running agent's own answer when it gives one;
 * otherwise the outbox as the database holds it, the agent not running. When the database cannot
 * be read by this user, TB_FORBIDDEN saying so and how to run the command instead: never
 * "not running, outbox 0" for an agent that may well be running with a backlog. `now`: the
 * clock the agent runs on (its outbox rows carry its times), for the outbox's age.
 */
export async function readStatus(
  config: Readonly<AgentConfig>,
  configFile: string,
  now: () => number = () => systemClock.now(),
): Promise<AgentStatus> {
  const running = await askRunningAgent(config);
  if (running) return running.status;
  const status: AgentStatus = {
    store: config.store,
    agentId: '(unknown)',
    running: false,
    hub: { url: config.hub.urls[0] ?? '', urls: [...config.hub.urls], connected: false },
    outbox: { depth: 0, oldestAgeMs: 0 },
    registers: [],
  };
  const dbFile = agentDbPath(config.dataDir);
  const unreadable = (path: string, err: unknown): TbError => cannotRead(config, configFile, path, err);
  try {
    statSync(config.dataDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return status; // never ran with this data directory
    throw unreadable(config.dataDir, err);
  }
  try {
    accessSync(config.dataDir, constants.R_OK | constants.X_OK);
    statSync(dbFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return status;
    throw unreadable(config.dataDir, err);
  }
  let db: Db;
  try {
    db = openAgentDbReadonly(dbFile);
  } catch (err) {
    throw unreadable(dbFile, err);
  }
  try {
    status.agentId = (db.prepare(`SELECT value FROM meta WHERE key = 'agent_id'`).get() as { value: string }).value;
    const r = db.prepare(`SELECT COUNT(*) AS n, MIN(created_ms) AS oldest FROM outbox`).get() as {
      n: number;
      oldest: number | null;
    };
    status.outbox = { depth: r.n, oldestAgeMs: r.oldest === null ? 0 : Math.max(0, now() - r.oldest) };
  } catch (err) {
    throw unreadable(dbFile, err);
  } finally {
    db.close();
  }
  return status;
}

function cannotRead(config: Readonly<AgentConfig>, configFile: string, path: string, err: unknown): TbError {
  const code = (err as { code?: unknown }).code;
  const owner = ownerOf(config.dataDir);
  const me = safeUserName();
  const as =
    owner && owner !== me
      ? `sudo -u ${owner.startsWith('#') ? `'${owner}'` : owner} tillbridge-agent status --config ${configFile}`
      : `sudo tillbridge-agent status --config ${configFile}`;
  return new TbError(
    TbCodes.FORBIDDEN,
    `the agent did not answer on its status endpoint (status.listen ${config.status.listen}), and ` +
      `${me ? `this user (${me})` : 'this user'} may not read ` +
      `${path === config.dataDir ? 'its data directory' : 'its database'} ` +
      `${path}${typeof code === 'string' ? ` (${code})` : ''}, ` +
      `so whether it runs and what its outbox holds cannot be told. Run it as the agent's ` +
      `user${owner ? ` (${owner}, who owns ${config.dataDir})` : ''}: ${as}, or as root`,
    { cause: err },
  );
}

function safeUserName(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** The name of the user owning `path` (from /etc/passwd), `#uid` when it has none, undefined when unknown. */
function ownerOf(path: string): string | undefined {
  let uid: number;
  try {
    uid = statSync(path).uid;
  } catch {
    return undefined;
  }
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && Number(id) === uid && id !== '') return name;
    }
  } catch {
    // no /etc/passwd (Windows): the uid will do
  }
  return `#${uid}`;
}
