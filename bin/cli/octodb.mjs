#!/usr/bin/env node
// `octodb` (package.json "bin"): the CLI is TypeScript like the rest of the project, run through
// tsx (installed by `npm ci`), so a clone needs no build step.
import { tsImport } from 'tsx/esm/api';

const { run } = await tsImport('./main.ts', import.meta.url);
process.exitCode = await run(process.argv.slice(2));
