import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root (scripts/dist/lib/ → ../../..). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const HUB_BIN = join(ROOT, 'central', 'bin', 'tillbridge-hub.js');
export const AGENT_BIN = join(ROOT, 'agent', 'bin', 'tillbridge-agent.js');
