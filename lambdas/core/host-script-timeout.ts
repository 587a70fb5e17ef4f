/**
 * How long a host script may run, and what that asks of whoever waits for it: the default of
 * OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS (lambdas/shared/config.ts), the value the CDK stack gives the
 * functions that run host scripts (lib/), the SSM runner's waits around it (adapters), and the
 * margin a DDL push keeps inside it (skeema.ts). A function that waits for a host script must
 * outlive hostScriptWaitSeconds (OctoFunction.bindHostRunner checks it at synth).
 */

/** Longest one host script (a Skeema push, a provisioning) runs before its runner kills it. */
export const HOST_SCRIPT_TIMEOUT_SECONDS = 600;
/** A push's own DDL time limit stays this far inside the script's, so the script's watchdog acts first. */
export const DDL_MARGIN_SECONDS = 30;
/** SSM: how long the instance has to pick a command up (SendCommand's TimeoutSeconds). */
export const SSM_PICKUP_SECONDS = 60;
/** How long past the script's limit the SSM runner polls for the result: the pick-up, then the agent's report. */
export const SSM_RESULT_GRACE_SECONDS = 90;

/** The longest a caller waits for one host script: its limit plus the runner's grace for a result. */
export const hostScriptWaitSeconds = (scriptTimeoutSeconds: number): number => scriptTimeoutSeconds + SSM_RESULT_GRACE_SECONDS;
