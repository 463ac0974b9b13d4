/**
 * The broker relay's lease (docs/erp-feed.md#to-a-message-broker-rabbitmq), one migration on each engine
 * (SQLite's version 14, PostgreSQL's 5). Several hub processes on one database each start a relay;
 * only the one holding the lease named after the relay's cursor (`amqp:<exchange>`) publishes. It
 * renews the lease while it relays; a process that dies leaves it to run out (`lease_until`, ISO
 * 8601 UTC like the webhook leases), and another process takes it over then.
 */
export function relaySchema(): string {
  return `
  CREATE TABLE feed_relay_leases (
    name TEXT PRIMARY KEY,
    leased_by TEXT NOT NULL,
    lease_until TEXT NOT NULL
  );
  `;
}
