import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Ports each vitest worker takes its `freePort`s from, in a block of its own. */
const BLOCK = 500;
/** Where the first worker's block starts: above the well-known services a machine runs (PostgreSQL, RabbitMQ…). */
const FIRST = 10_000;

/**
 * The lowest port the kernel hands out for `listen(0)` and outgoing connections (Linux:
 * /proc/sys/net/ipv4/ip_local_port_range; elsewhere the IANA range's start, which Windows and macOS use).
 */
export function ephemeralLow(
  read: () => string = () => readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'),
): number {
  try {
    const low = Number(read().trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 1024 ? low : 49_152;
  } catch {
    return 49_152;
  }
}

/**
 * The block of ports worker `pool` (vitest's VITEST_POOL_ID, from 1) takes its `freePort`s from: below `low`, so that
 * no other test's `listen(0)` or outgoing connection can be given one of them, and apart from every other worker's.
 */
export function portBlock(pool: number, low: number): { first: number; size: number } {
  const blocks = Math.max(1, Math.floor((low - FIRST) / BLOCK));
  return { first: FIRST + ((Math.max(1, pool) - 1) % blocks) * BLOCK, size: BLOCK };
}

function bindable(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

let next = 0;

/**
 * A port nothing listens on now, for a server a test starts later (an agent is told of a hub before the hub runs, a
 * URL that must stay dead). A port released after `listen(0)` could be handed to another test's socket in between,
 * which four test files at once made happen (EADDRINUSE); this one comes from this worker's block below the
 * kernel's ephemeral range, the next one each call.
 */
export async function freePort(): Promise<number> {
  const { first, size } = portBlock(Number(process.env.VITEST_POOL_ID ?? 1), ephemeralLow());
  for (let tried = 0; tried < size; tried++) {
    const port = first + (next++ % size);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${first}–${first + size - 1}`);
}
