import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostRecord, HostRunner, HostRunResult } from '#core/ports';
import type { MysqlLogin } from '#shared/config';
import { processAlive } from './local-process.ts';

/** Private HOMEs are named after their process: `octodb-host-<pid>-XXXXXX`. */
const HOME_PREFIX = 'octodb-host-';
const HOME_OF_PID = /^octodb-host-(\d+)-/;
/** Homes of this process, removed when it exits (a throw reaching the top included). */
const homes = new Set<string>();
let exitHook = false;

/**
 * Runs host scripts with bash on this machine (or in compose's `dbhost` container), standing in
 * for SSM on the EC2 host. The admin login goes into a private ~/.my.cnf, as on the host, so
 * neither mysql nor skeema sees a password on its command line; with it the CA the server's
 * certificate is verified against (`ssl-ca`; MariaDB's client also checks the name with
 * `ssl-verify-server-cert`, MySQL 8's does VERIFY_CA given a CA), and OCTODB_DB_CA names the same
 * file for Skeema (core/host-scripts.ts).
 * That file holds the admin password, so it must not outlive its process: it goes with close(),
 * with the process's exit, and, for a process killed outright (SIGKILL, a crash of the machine),
 * with the next runner made on this machine, which removes every home of a process that is gone.
 */
export class BashHostRunner implements HostRunner {
  private readonly home: string;

  constructor(
    login: MysqlLogin,
    /** Where the scripts reach MySQL, and the CA file (a path where the scripts run) that verifies it. */
    private readonly dbHost: { host: string; port: number; caFile: string },
    private readonly command: string[] = ['bash', '-s'],
    /** What the command itself needs from this process's environment (the docker client's settings). */
    private readonly commandEnv: Record<string, string> = {},
  ) {
    removeHomesOfDeadProcesses();
    this.home = mkdtempSync(join(tmpdir(), `${HOME_PREFIX}${process.pid}-`));
    if (!exitHook) process.once('exit', removeOwnHomes);
    exitHook = true;
    homes.add(this.home);
    writeFileSync(join(this.home, '.my.cnf'), clientOptions(login, dbHost.caFile), { mode: 0o600 });
  }

  /** The private HOME holds the admin password: it goes with the runner. */
  async close(): Promise<void> {
    rmSync(this.home, { recursive: true, force: true });
    homes.delete(this.home);
  }

  /**
   * The script runs in its own process group: past its time limit the whole group is killed (bash,
   * skeema, mysql), so no orphan keeps running or holds the output pipes open.
   */
  run(_host: HostRecord, script: string, timeoutSeconds: number): Promise<HostRunResult> {
    const [bin, ...args] = this.command;
    return new Promise((resolve, reject) => {
      const child = spawn(bin!, args, {
        env: {
          ...this.commandEnv,
          PATH: process.env.PATH,
          HOME: this.home,
          OCTODB_DB_HOST: this.dbHost.host,
          OCTODB_DB_PORT: String(this.dbHost.port),
          OCTODB_DB_CA: this.dbHost.caFile,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child.pid);
        // A process that left the group may still hold the pipes: stop reading them.
        child.stdout.destroy();
        child.stderr.destroy();
      }, timeoutSeconds * 1000);
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        // The script is done: what it started in the background goes with it.
        killGroup(child.pid);
        const settle = () => {
          if (timedOut) stderr += `\nkilled: host script time limit of ${timeoutSeconds}s reached`;
          resolve({ exitCode: code ?? -1, stdout, stderr, ...(timedOut ? { timedOut } : {}) });
        };
        // Output still buffered in the pipes arrives before 'close'; a destroyed pipe never closes.
        if (timedOut || (child.stdout.closed && child.stderr.closed)) settle();
        else child.once('close', settle);
      });
      child.stdin.on('error', () => undefined); // a script that exits before reading all of it
      child.stdin.end(script);
    });
  }
}

/** The client option file: the admin login, and TLS with the server verified against the CA. */
function clientOptions(login: MysqlLogin, caFile: string): string {
  return `[client]\nuser=${login.user}\npassword=${login.password}\nssl-ca=${caFile}\n[client-mariadb]\nssl-verify-server-cert\n`;
}

function removeOwnHomes(): void {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
}

/**
 * The private HOMEs (and their ~/.my.cnf) that processes killed before their exit left in the temp
 * dir. The host scripts such a process was running live on in their own process groups: they are
 * killed first (found by their HOME), so none of them goes on against a database that a new worker
 * has taken over (a provisioning script's clean-up would drop it).
 */
export function removeHomesOfDeadProcesses(dir = tmpdir()): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const pid = HOME_OF_PID.exec(name)?.[1];
    if (pid === undefined || processAlive(Number(pid))) continue;
    killScriptsOf(join(dir, name));
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Kills the processes whose environment names `home` as HOME (Linux's /proc; elsewhere none are found). */
function killScriptsOf(home: string): void {
  const marker = `\0HOME=${home}\0`;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      if (`\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}`.includes(marker)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone meanwhile, or another user's: not ours to stop.
    }
  }
}

function killGroup(pid: number | undefined): void {
  try {
    if (pid) process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is gone already.
  }
}

/**
 * What the docker client needs to find its engine (compose's `dbhost` runner): DOCKER_HOST,
 * DOCKER_CONTEXT and the like, and its config dir, which lives under the real HOME that the
 * private HOME above would hide (Docker Desktop, rootless Docker and colima select contexts there).
 */
export function dockerClientEnv(from: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(from)) {
    if (name.startsWith('DOCKER_') && value !== undefined) env[name] = value;
  }
  if (!env.DOCKER_CONFIG && from.HOME) env.DOCKER_CONFIG = join(from.HOME, '.docker');
  return env;
}
