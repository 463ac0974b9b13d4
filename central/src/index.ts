export { startHub, initHub, isInitialized, HUB_SOFTWARE, type RunningHub, type HubOptions } from './hub.js';
export { openHub, type Hub } from './hub-services.js';
export { AdminClient } from './cli/admin-client.js';
export { AuditLog, verifyEntries, entryHash, GENESIS_HASH, type AuditEntry, type VerifyResult } from './domain/audit-log.js';
export { openHubStorage, hubDbPath, openPgClient, type HubStorage, type PgClient } from './storage/index.js';
export type { Clock } from './domain/clock.js';
export { DevCa, writeDevCerts, type DevCertFiles } from './tls/dev-certs.js';
export { feedJsonSchemas, FEED_DATA_SCHEMAS, FEED_ENTRY_SCHEMA } from './feed/event-schemas.js';
export { AmqpRelay, type AmqpRelayOptions, type RelayStatus } from './feed/amqp-relay.js';
