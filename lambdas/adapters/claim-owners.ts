import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ClaimOwners } from '#core/provisioning-ports';
import { processAlive } from './local-process.ts';

/** Owners made by this process that are still open: one that was closed (a stopped local OctoDB) is gone. */
const openHere = new Set<string>();

/** A claim names its owner, then maybe `/` and the run that took it (a cascade run's claims). */
const claimOwner = (claim: string) => claim.split('/')[0]!;

/**
 * A local process's claims name it (`local:<machine>:<pid>:<random>`), so a restarted OctoDB on
 * this machine sees at once that a claim's process is gone and takes its work over, instead of
 * waiting for the lease to run out. An owner from another machine, or a pid that runs again (reused),
 * is not known to be gone: its claims wait for their lease.
 */
export class LocalClaimOwners implements ClaimOwners {
  readonly self = `local:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

  constructor() {
    openHere.add(this.self);
  }

  isGone(claim: string): boolean {
    const owner = claimOwner(claim);
    const [kind, machine, pid] = owner.split(':');
    if (kind !== 'local' || machine !== hostname() || !/^\d+$/.test(pid ?? '')) return false;
    return Number(pid) === process.pid ? !openHere.has(owner) : !processAlive(Number(pid));
  }

  close(): void {
    openHere.delete(this.self);
  }
}

/** On Lambda an instance's end is not seen: its claims are taken over once their lease runs out. */
export class LeaseOnlyClaimOwners implements ClaimOwners {
  readonly self = `lambda:${randomUUID()}`;

  isGone(): boolean {
    return false;
  }
}
