// Worker-thread entry for the neighbours benchmark's attackers. Plain JS so that it loads under
// any runner: it registers tsx's loader itself, then serves the phases bench/neighbours.ts orders.
import { register } from 'tsx/esm/api';

register();
const { serveAttackerThread } = await import('./neighbours.ts');
serveAttackerThread();
