/* The types of AffinityPool (affinity-pool.ts): its connections, its limits, what a connection is taken for. */
import type { Share } from './time-share.ts';

export interface PoolSlot<C> {
  conn: C;
  /** Whom the connection is switched to; undefined: nobody yet, or a switch that did not finish. */
  who?: string;
  dead?: boolean;
}

export interface PoolLimits {
  size: number;
  /** Connections one tenant may hold at once (≤ size). */
  perTenant: number;
  /** Free connections a tenant already holding one may not take: kept for tenants holding none. */
  reserve: number;
  acquireTimeoutMs: number;
  /** Told each time a tenant stops holding a connection (or a charge), with how long it held it. */
  onHeld?: (tenant: string, ms: number) => void;
  /** A statement held this long is slow; 0 or absent: no slow-tenant cap. */
  slowMs?: number;
  /** Connections a tenant with slow statements may hold at once (≤ perTenant). */
  slowPerTenant?: number;
  /** Writes a tenant may run at once (≤ perTenant); absent: as many as `perTenant`. */
  writePerTenant?: number;
  /** How long a tenant stays slow after its last slow statement ended. */
  slowCooldownMs?: number;
  /** Connections all slow tenants together hold at once; absent: no bound beyond each one's own. */
  slowTotal?: number;
  /**
   * Connection time all slow tenants together use: `msPerSecond` on average, `burstMs` at once.
   * Each connection a slow tenant held is charged when it is let go; absent: no bound on time.
   */
  slowShare?: Share;
}

/** What a connection is taken for: `writes` counts against `writePerTenant`; `upkeep` is OctoDB's own statement. */
export interface Purpose {
  writes: boolean;
  upkeep?: boolean;
}
