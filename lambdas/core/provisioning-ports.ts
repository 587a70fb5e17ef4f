/**
 * The ports of provisioning's claims (LF6): who holds a database's provisioning, for how long, and
 * whether a holder is known to be gone. MetaDB implements the claims; the runtime, the owners.
 */

/**
 * A claim is a lease: its holder renews it (a heartbeat every third of the lease) while it works;
 * one not renewed for a lease is a dead worker's, and anyone may take it over.
 */
export interface ProvisioningClaims {
  /**
   * Takes (or takes back) a `provisioning` database for `owner`: true when it was unclaimed, its
   * lease ran out, it is `owner`'s own (a retry after an error), or it is held by `takeOverFrom`
   * (an owner known to be gone). False otherwise: a live worker has it.
   */
  claimProvisioning(dbId: string, claim: { owner: string; leaseSeconds: number; takeOverFrom?: string }): Promise<boolean>;
  /** Renews `owner`'s lease; false when the claim is no longer its own (taken over, or finished). */
  renewProvisioning(dbId: string, owner: string): Promise<boolean>;
  /** Gives up `owner`'s claim, so the next sweep takes the database at once. */
  releaseProvisioning(dbId: string, owner: string): Promise<void>;
  /** `provisioning` → `ready` with the tenant's sealed password, only while `owner` holds the claim. */
  markProvisioned(dbId: string, sealedPassword: string, owner: string): Promise<boolean>;
  /** Databases still `provisioning`, oldest first: who holds each, and whether its lease (or, never claimed, its signup) is older than `leaseSeconds`. */
  listProvisioning(leaseSeconds: number, limit: number): Promise<ProvisioningCandidate[]>;
}

export interface ProvisioningCandidate {
  dbId: string;
  /** The claim's holder; null when never claimed, released, or claimed before owners were recorded. */
  owner: string | null;
  /** Not renewed for a lease (or unclaimed for that long since the signup). */
  expired: boolean;
}

/** This worker's identity, and what the runtime knows about other workers. */
export interface ClaimOwners {
  /** Stored with each claim this process takes. */
  readonly self: string;
  /**
   * True when `owner` is known to have ended (a local process that died): its claims are free at
   * once. A claim may name a run of its owner after a `/` (`<owner>/<run>`): it is that owner's.
   */
  isGone(owner: string): boolean;
}
