import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { Instance } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type AwsSdkCall, AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct, type IDependable } from 'constructs';

/** CloudFormation gives up on the custom resource after this (its default is an hour); one EC2 call takes seconds. */
export const TERMINATION_PROTECTION_TIMEOUT = Duration.minutes(5);

export interface HostTerminationProtectionProps {
  instance: Instance;
  /** Turned on only after these exist: the last steps of a deploy that can still fail because of the host. */
  after: IDependable[];
  logRetention: RetentionDays;
}

/**
 * EC2 termination protection of the host, as a custom resource instead of the instance's
 * DisableApiTermination: protection set at launch makes every failure later in a first deploy end
 * in ROLLBACK_FAILED (CloudFormation cannot delete the protected instance). This resource turns it
 * on once the host and the steps in `after` are deployed, and off again when CloudFormation deletes
 * it — which it always does before the instance it depends on: in a rollback, a stack deletion, and
 * (its physical id is the instance id) the clean-up after a host replacement, for the old host.
 */
export class HostTerminationProtection extends Construct {
  readonly resource: AwsCustomResource;

  constructor(scope: Construct, id: string, props: HostTerminationProtectionProps) {
    super(scope, id);
    const instanceId = props.instance.instanceId;
    const protect = (on: boolean): AwsSdkCall => ({
      service: 'EC2',
      action: 'ModifyInstanceAttribute',
      parameters: { InstanceId: instanceId, DisableApiTermination: { Value: on } },
      physicalResourceId: PhysicalResourceId.of(instanceId),
      // A host terminated by hand must not block the stack's deletion.
      ...(on ? {} : { ignoreErrorCodesMatching: 'InvalidInstanceID\\.NotFound' }),
    });
    const instanceArn = Stack.of(this).formatArn({ service: 'ec2', resource: 'instance', resourceName: instanceId });
    // Its own role (CDK's default adds the AWS-managed basic execution policy): its logs and the one EC2 call.
    const logs = new LogGroup(this, 'Logs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'OctoDB host termination protection: custom resource function',
    });
    logs.grantWrite(role);
    this.resource = new AwsCustomResource(this, 'Resource', {
      resourceType: 'Custom::OctoDbHostTerminationProtection',
      onCreate: protect(true),
      onUpdate: protect(true),
      onDelete: protect(false),
      policy: AwsCustomResourcePolicy.fromStatements([new PolicyStatement({ actions: ['ec2:ModifyInstanceAttribute'], resources: [instanceArn] })]),
      role,
      installLatestAwsSdk: false,
      serviceTimeout: TERMINATION_PROTECTION_TIMEOUT,
      logGroup: logs,
    });
    this.resource.node.addDependency(...props.after);
  }
}

