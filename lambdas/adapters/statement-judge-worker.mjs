// Worker-thread entry of the statement judge under tsx and vitest (see statement-judge-thread.ts).
// Plain JS so that it loads under any runner: it registers tsx's loader itself. In a Lambda bundle
// a file of this name next to index.mjs is statement-judge-thread.ts bundled (lib/octo-function.ts).
import { register } from 'tsx/esm/api';

register();
await import('./statement-judge-thread.ts');
