import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The portal's build (`npm run portal:build`; the CDK asset and the browser test call the same
 * config). Preact through Vite's own JSX transform: no plugin needed. No module-preload
 * polyfill: it would be an inline script, which the portal's Content-Security-Policy refuses.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, modulePreload: { polyfill: false }, target: 'es2022', sourcemap: false },
});
