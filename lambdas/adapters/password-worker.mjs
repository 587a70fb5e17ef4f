// Worker-thread entry for WorkerPasswordHasher under tsx and vitest. Plain JS so that it loads under
// any runner: it registers tsx's loader itself (vitest's workers and plain node have none). A Lambda
// bundle does not use this file: the bundle is its own worker entry.
import { register } from 'tsx/esm/api';

register();
await import('./worker-password-hasher.ts');
