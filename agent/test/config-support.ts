import type { TbError } from '@tillbridge/shared';
import { parseAgentConfig } from '../src/config.js';

/** The smallest config the agent accepts: a store, its data directory, the hub and one register. */
export const minimalConfig = {
  store: 'S1',
  dataDir: '/tmp/x',
  hub: { url: 'ws://127.0.0.1:7400', apiKey: 'tbk_0123456789' },
  registers: [{ id: 'R1', transport: { type: 'tcp-server', port: 7410 } }],
};

/** The problems parseAgentConfig lists for `raw` (none when it is accepted). */
export function configProblems(raw: unknown): string[] {
  try {
    parseAgentConfig(raw);
  } catch (err) {
    return ((err as TbError).details?.problems as string[] | undefined) ?? [];
  }
  return [];
}
