// The console's page: built into dist/ for the hub to serve at /console/ (docs/console.md).
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/console/',
  // JSX for Preact (no React); the hub's CSP allows no inline script, so no module-preload polyfill is inlined
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    reportCompressedSize: false,
  },
});
