import type { CloudFormationCustomResourceEvent } from 'aws-lambda';

export interface CfnOutcome {
  status: 'SUCCESS' | 'FAILED';
  physicalResourceId: string;
  reason?: string;
  data?: Record<string, string>;
}

/**
 * Answers a CloudFormation custom resource request: a PUT of the outcome to its pre-signed
 * ResponseURL. Without this answer the stack would wait an hour, so callers send it on every path.
 */
export async function sendCfnResponse(event: CloudFormationCustomResourceEvent, outcome: CfnOutcome): Promise<void> {
  const body = JSON.stringify({
    Status: outcome.status,
    Reason: (outcome.reason ?? outcome.status).slice(0, 3000),
    PhysicalResourceId: outcome.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: outcome.data ?? {},
  });
  const response = await fetch(event.ResponseURL, { method: 'PUT', headers: { 'content-type': '' }, body });
  if (!response.ok) throw new Error(`CloudFormation response PUT answered ${response.status}`);
}
