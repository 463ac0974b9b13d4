import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { parseHostPort } from '@tillbridge/shared';
import { runFilePath } from './run-file.js';
import type { AgentStatus } from './status-report.js';

/** What the client reads of the agent's config (AgentConfig). */
interface AgentConfig {
  store: string;
  dataDir: string;
  status: { listen: string };
}

/**
 * Asks the running agent of this config for its status over its loopback endpoint. Where: the
 * run file in the data directory names it; a user who may not read the data directory (the
 * shipped unit makes it 0700) still finds it at the config's `status.listen` when that names a
 * port. undefined when no agent of this store answers.
 */
export async function askRunningAgent(
  config: Readonly<AgentConfig>,
  timeoutMs = 2000,
): Promise<{ status: AgentStatus; url: string } | undefined> {
  for (const url of candidates(config)) {
    // not there (a stale run file after a crash, nothing listening, something else listening): try the next place
    const status = (await getJson(`${url}/status`, timeoutMs)) as AgentStatus | undefined;
    // another store's agent on the same port is not this one
    if (status && status.running && status.store === config.store) return { status, url };
  }
  return undefined;
}

/**
 * GET a JSON document on loopback; undefined on any failure. node:http with its own timer (not
 * fetch with AbortSignal.timeout, whose unreferenced timer let the process end with the
 * request still pending when a server hung up without answering; got's timeouts are unreferenced
 * timers too, so the agent's one HTTP client is not used here).
 */
function getJson(url: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve) => {
    const req = get(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve(undefined);
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        if (body.length > 1_000_000) req.destroy();
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.setTimeout(timeoutMs, () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.on('close', () => resolve(undefined)); // after a response, resolve() above came first
  });
}

function candidates(config: Readonly<AgentConfig>): string[] {
  const out: string[] = [];
  try {
    const { statusUrl } = JSON.parse(readFileSync(runFilePath(config.dataDir), 'utf8')) as { statusUrl?: unknown };
    if (typeof statusUrl === 'string') out.push(statusUrl);
  } catch {
    // no run file, or one this user may not read
  }
  const { host, port } = parseHostPort(config.status.listen);
  if (port !== 0) {
    // an agent listening on every address answers on loopback
    const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    const url = `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
    if (!out.includes(url)) out.push(url);
  }
  return out;
}

/** The TCP ports the running agent holds: its registers' listeners and its status endpoint. */
export function portsHeldBy(running: { status: AgentStatus; url: string }): Set<number> {
  const ports = new Set<number>();
  for (const text of [...running.status.registers.map((r) => r.transport), running.url]) {
    try {
      const p = Number(new URL(text).port);
      if (p > 0) ports.add(p);
    } catch {
      // a serial or HID register: no port
    }
  }
  return ports;
}
