export { startAgent, runFilePath, type RunningAgent } from './agent.js';
export { parseAgentConfig, loadAgentConfig, AgentConfigSchema, type AgentConfig } from './config.js';
export {
  openAgentDb,
  agentDbPath,
  AGENT_MIGRATIONS,
  AGENT_SCHEMA_VERSION,
  migrateTo as migrateAgentDbTo,
} from './db/agent-db.js';
export { LineFramer } from './gateway/framing/line.js';
export { JsonlCodec } from './gateway/codecs/jsonl.js';
export { toCanonical } from './gateway/canonical.js';
export type { Codec, Framer, Transport, Connection } from './gateway/types.js';
export type { AgentStatus } from './status/status-report.js';
