// Worker-thread entry for L1 (see bin/local-log-consumer.ts). Plain JS so that it loads under any
// runner: it registers tsx's loader itself (vitest's workers and plain node have none).
import { register } from 'tsx/esm/api';

register();
await import('./local-log-consumer.ts');
