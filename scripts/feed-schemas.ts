import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { feedJsonSchemas } from '@tillbridge/central';
import { ROOT } from './lib/paths.js';

/**
 * Writes the ERP feed's JSON Schema files (central/schemas/feed/) from the schemas the hub's code
 * holds (central/src/feed/event-schemas.ts). `npm run schemas` after changing an event's shape;
 * a test fails while the files differ from the code.
 */
const dir = join(ROOT, 'central', 'schemas', 'feed');
mkdirSync(dir, { recursive: true });
const files = feedJsonSchemas();
for (const f of readdirSync(dir)) if (!(f in files)) rmSync(join(dir, f));
for (const [name, schema] of Object.entries(files))
  writeFileSync(join(dir, name), `${JSON.stringify(schema, null, 2)}\n`);
process.stdout.write(`${Object.keys(files).length} schema files in ${dir}\n`);
