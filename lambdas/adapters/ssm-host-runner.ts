import { GetCommandInvocationCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { hostScriptWaitSeconds, SSM_PICKUP_SECONDS } from '#core/host-script-timeout';
import type { HostRecord, HostRunner, HostRunResult } from '#core/ports';
import { realSleep as sleep } from '#core/retry';

const TERMINAL = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut']);

/** Runs host scripts on the MySQL EC2 instance with SSM SendCommand (AWS-RunShellScript), polled to the end. */
export class SsmHostRunner implements HostRunner {
  constructor(
    private readonly ssm: SSMClient,
    private readonly pollMs = 1000,
  ) {}

  async run(host: HostRecord, script: string, timeoutSeconds: number): Promise<HostRunResult> {
    const sent = await this.ssm.send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [host.instanceId],
        Parameters: { commands: [script], executionTimeout: [String(timeoutSeconds)] },
        TimeoutSeconds: SSM_PICKUP_SECONDS, // time allowed for the instance to pick the command up
        Comment: 'octodb host script',
      }),
    );
    const commandId = sent.Command?.CommandId;
    if (!commandId) throw new Error('SSM returned no command id');
    const deadline = Date.now() + hostScriptWaitSeconds(timeoutSeconds) * 1000;
    while (Date.now() < deadline) {
      await sleep(this.pollMs);
      try {
        const inv = await this.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: host.instanceId }));
        if (inv.Status && TERMINAL.has(inv.Status)) {
          return {
            exitCode: inv.ResponseCode ?? -1,
            stdout: inv.StandardOutputContent ?? '',
            stderr: inv.StandardErrorContent ?? (inv.Status === 'Success' ? '' : `SSM status ${inv.Status}`),
            // executionTimeout reached: the agent killed the script's process tree (not what it runs on the server).
            ...(inv.Status === 'TimedOut' ? { timedOut: true } : {}),
          };
        }
      } catch (error) {
        // Right after SendCommand the invocation may not exist yet.
        if ((error as { name?: string }).name !== 'InvocationDoesNotExist') throw error;
      }
    }
    throw new Error(`SSM command ${commandId} did not finish within ${timeoutSeconds}s`);
  }
}
