import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Settings only the operator's shell gives (the admin command), not the config schema. */
const COMMAND_ONLY = ['OCTODB_ADMIN_FUNCTION'];

describe('documentation', () => {
  it('lists in docs/configuration.md exactly the settings lambdas/shared/config.ts declares', () => {
    const declared = [...read('lambdas/shared/config.ts').matchAll(/^\s+(OCTODB_[A-Z0-9_]+|PORT):/gm)].map((m) => m[1]!);
    const documented = [...read('docs/configuration.md').matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]!);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].filter((d) => !COMMAND_ONLY.includes(d)).sort()).toEqual([...declared].sort());
  });

  it('keeps README a short door: at most 150 lines, and every relative link resolves', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).toBeLessThanOrEqual(150);
    for (const file of ['README.md', ...readme.matchAll(/\]\((docs\/[a-z-]+\.md)/g)].map((m) => (typeof m === 'string' ? m : m[1]!))) {
      const text = read(file);
      for (const [, target] of text.matchAll(/\]\(((?:docs\/)?[a-z-]+\.md)(?:#[a-z0-9-]+)?\)/g)) {
        const path = file === 'README.md' || target!.startsWith('docs/') ? target! : `docs/${target}`;
        expect(() => read(path), `${file} → ${target}`).not.toThrow();
      }
    }
  });
});
