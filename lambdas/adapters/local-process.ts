/**
 * Whether a process of this machine still runs: what a local OctoDB uses to tell its own leftovers
 * (a private ~/.my.cnf, a provisioning claim) from those of a process that died. A pid the kernel
 * reused makes a dead process look alive: callers fall back to what they do without this check.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: nothing is sent, only existence and permission are checked
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}
