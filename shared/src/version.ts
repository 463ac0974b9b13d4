import { readFileSync } from 'node:fs';

/** Replaced by the version string in the bundles `npm run release` builds (an esbuild `define`). */
declare const __TILLBRIDGE_VERSION__: string | undefined;

/**
 * Tillbridge's version, as `tillbridge-agent --version` and `tillbridge-hub --version` print it:
 * the one `npm run release` stamps into a release bundle (package.json's, or its `--version`),
 * else, run from the checkout, the root package.json's.
 */
export const TILLBRIDGE_VERSION: string =
  typeof __TILLBRIDGE_VERSION__ === 'string' ? __TILLBRIDGE_VERSION__ : checkoutVersion();

function checkoutVersion(): string {
  // shared/src/ and shared/dist/ are both two levels below the repository root
  const file = new URL('../../package.json', import.meta.url);
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error(`${file.pathname}: expected a "version" string`);
  return pkg.version;
}
