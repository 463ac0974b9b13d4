import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The content types of what the console's build holds. */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Where the console's built page is: next to the hub's bundle in the package (`console/` beside tillbridge-hub.mjs,
 * whose code may run from the bundle's chunks/), or in the checkout (central/console-ui/dist, from central/src/console
 * or central/dist/console).
 */
export function consoleAssetsDir(): string | undefined {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [join(here, 'console'), join(here, '..', 'console'), join(here, '..', '..', 'console-ui', 'dist')];
  return candidates.find((d) => existsSync(join(d, 'index.html')));
}

export interface Asset {
  body: Buffer;
  type: string;
  /** hashed file names (assets/…) never change: cached for long; index.html is looked at again each time */
  immutable: boolean;
}

/** Every file of the built page, read once at start (a few hundred kilobytes), by its path below /console/. */
export function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (statSync(p).isFile()) {
        const rel = relative(dir, p).split(sep).join('/');
        const type = TYPES[extname(e.name).toLowerCase()];
        if (type !== undefined) out.set(rel, { body: readFileSync(p), type, immutable: rel.startsWith('assets/') });
      }
    }
  };
  walk(dir);
  return out;
}
