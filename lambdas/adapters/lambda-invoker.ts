import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { AsyncFunction, Invoker } from '#core/ports';

/**
 * Lambda InvocationType=Event: Lambda queues the event and retries a failing function itself. A
 * request's root wraps it (`tracedInvoker`) so the payload carries the request's correlation id.
 */
export class LambdaInvoker implements Invoker {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionNames: Partial<Record<AsyncFunction, string>>,
  ) {}

  async invokeAsync(fn: AsyncFunction, payload: Record<string, unknown>): Promise<void> {
    const FunctionName = this.functionNames[fn];
    if (!FunctionName) throw new Error(`no function name configured for ${fn}`);
    const result = await this.lambda.send(
      new InvokeCommand({ FunctionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(payload)) }),
    );
    if (result.StatusCode !== 202) throw new Error(`async invoke of ${fn} answered ${result.StatusCode}`);
  }
}
