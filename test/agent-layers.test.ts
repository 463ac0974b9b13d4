import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The agent's layers (docs/architecture.md, "The agent's layers"): the store core depends on its
 * database and shared only; the gateway and sync depend on the core (its ports), never on each
 * other; status and metrics read the core. Only the composition root (agent.ts) and the entry
 * points around it (cli, config) know every layer.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const AGENT_SRC = 'agent/src';

/** Each layer: the folders under agent/src it is made of, and the layers it may import. */
const LAYERS: Record<string, { dirs: string[]; may: string[] }> = {
  db: { dirs: ['db'], may: [] },
  core: { dirs: ['core'], may: ['db'] },
  gateway: { dirs: ['gateway'], may: ['core'] },
  sync: { dirs: ['sync'], may: ['core', 'db'] },
  status: { dirs: ['status', 'metrics'], may: ['core', 'db'] },
};

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = posix.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The layer of a file under agent/src; undefined for the composition root and entry points. */
function layerOf(file: string): string | undefined {
  const top = posix.relative(AGENT_SRC, file).split('/')[0]!;
  return Object.keys(LAYERS).find((name) => LAYERS[name]!.dirs.includes(top));
}

/** Every module a source names: static imports and exports, side-effect imports, import(). */
const SPECIFIERS = /(?:\bfrom\s+|\bimport\s+|\bimport\(\s*)'([^']+)'/g;

/** The forbidden imports of one file, as "file:line layer -> layer: specifier". */
export function forbiddenImports(file: string, text: string): string[] {
  const layer = layerOf(file);
  if (!layer) return [];
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const m of line.matchAll(SPECIFIERS)) {
      const spec = m[1]!;
      if (!spec.startsWith('.')) continue; // node:, npm packages and @tillbridge/shared are below every layer
      const target = posix.normalize(posix.join(posix.dirname(file), spec));
      if (!target.startsWith(`${AGENT_SRC}/`)) continue;
      const to = layerOf(target);
      if (to === layer || (to && LAYERS[layer]!.may.includes(to))) continue;
      found.push(`${file}:${i + 1} ${layer} -> ${to ?? posix.relative(AGENT_SRC, target)}: ${spec}`);
    }
  });
  return found;
}

describe('the agent layers', () => {
  it('core, gateway, sync, status and metrics import only the layers below them', () => {
    const files = sources(AGENT_SRC);
    expect(files.length).toBeGreaterThan(50);
    const found = files.flatMap((f) => forbiddenImports(f, readFileSync(join(ROOT, f), 'utf8')));
    expect(found).toEqual([]);
  });

  it('only agent/src/db opens SQLite itself: every other folder takes its connections from there', () => {
    const importers = sources(AGENT_SRC)
      .filter((f) => !f.startsWith(`${AGENT_SRC}/db/`))
      .filter((f) => /^import (?!type\b)[^;]*from 'better-sqlite3'/m.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(importers).toEqual([]);
  });

  it('the check sees each kind of forbidden import', () => {
    const imports = [
      "import type { Outbox } from '../sync/outbox.js';",
      "export { x } from '../gateway/types.js';",
      "const m = await import('../config.js');",
    ].join('\n');
    expect(forbiddenImports('agent/src/core/x.ts', imports)).toEqual([
      'agent/src/core/x.ts:1 core -> sync: ../sync/outbox.js',
      'agent/src/core/x.ts:2 core -> gateway: ../gateway/types.js',
      'agent/src/core/x.ts:3 core -> config.js: ../config.js',
    ]);
    const syncToGateway = "import { RegisterEndpoint } from '../gateway/register-endpoint.js';";
    expect(forbiddenImports('agent/src/sync/x.ts', syncToGateway)).toHaveLength(1);
    expect(forbiddenImports('agent/src/gateway/x.ts', "import { Outbox } from '../sync/outbox.js';")).toHaveLength(1);
    expect(forbiddenImports('agent/src/agent.ts', "import { Outbox } from './sync/outbox.js';")).toEqual([]);
    expect(forbiddenImports('agent/src/gateway/x.ts', "import { HubAuthorizer } from '../core/ports.js';")).toEqual([]);
  });
});
