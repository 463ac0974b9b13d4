import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PG_MIGRATIONS } from '../src/storage/postgres-schema.js';
import { HUB_MIGRATIONS } from '../src/storage/schema.js';

// Version 1 of each engine shipped: databases were made from that exact text (SQLite keeps each
// CREATE statement's text in sqlite_master). Its tables are now declared once for both engines
// (hub-tables.ts); what they render must stay the text that shipped, kept here as fixtures.
const FIXTURES = join(import.meta.dirname, 'fixtures', 'schema-v1');
const shipped = (engine: string): string => readFileSync(join(FIXTURES, `${engine}.sql.txt`), 'utf8');

describe('version 1 of the schema', () => {
  it('on SQLite is, to the byte, the text that shipped', () => {
    expect(HUB_MIGRATIONS[0]).toBe(shipped('sqlite'));
  });

  it('on PostgreSQL is, to the byte, the text that shipped', () => {
    expect(PG_MIGRATIONS[0]).toBe(shipped('postgres'));
  });
});
