import { Annotations, ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/**
 * One SNS topic every alarm notifies (encrypted with a key CloudWatch may use; an optional email
 * subscription from config). `whenAbove` adds an alarm that fires when a metric goes over a
 * threshold in one 5-minute period.
 */
export class Alarms extends Construct {
  readonly topic: Topic;
  /** Retained on stack deletion (a KMS key's default); the teardown in docs/deploy.md schedules its deletion. */
  readonly key: Key;

  constructor(scope: Construct, id: string, props: { email?: string }) {
    super(scope, id);
    const key = (this.key = new Key(this, 'TopicKey', { enableKeyRotation: true, description: 'OctoDB alarm topic' }));
    // CloudWatch publishes alarm notifications to the encrypted topic with this key: only for
    // alarms of this account and region (no confused deputy acting for another account's alarm).
    const stack = Stack.of(this);
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccount',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
        },
      }),
    );
    this.topic = new Topic(this, 'Topic', { displayName: 'OctoDB alarms', masterKey: key, enforceSSL: true });
    if (props.email) this.topic.addSubscription(new EmailSubscription(props.email));
    else Annotations.of(this).addWarningV2('octodb:no-alarm-email', NO_ALARM_EMAIL);
  }

  whenAbove(id: string, metric: IMetric, threshold: number, description: string): Alarm {
    const alarm = new Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    return alarm;
  }
}

/** Said at synth when no one would hear an alarm. */
export const NO_ALARM_EMAIL =
  'No alarmEmail set: every alarm notifies an SNS topic nobody is subscribed to. Deploy with -c alarmEmail=ops@example.com ' +
  '(and confirm the subscription mail), or subscribe to the AlarmTopicArn output yourself.';

export const FIVE_MINUTES = Duration.minutes(5);
