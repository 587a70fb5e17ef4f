import { Annotations, CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { ConfigEnvironment } from '#shared/config';
import { LOG_PIPELINE } from '#shared/log-pipeline';
import { Alarms, FIVE_MINUTES } from './alarms.ts';
import { Api } from './api.ts';
import { Cache } from './cache.ts';
import { DatabaseHost, MYSQL_HOSTNAME } from './database-host.ts';
import { Logging } from './logging.ts';
import { MetaDbDeployment } from './metadb-deployment.ts';
import { Network } from './network.ts';
import { portalRoutes } from './portal-build.ts';
import { type CoreBindings, type MysqlAccount, type MysqlServer, OctoFunction, type OctoFunctionProps } from './octo-function.ts';
import { Secrets } from './secrets.ts';
import type { StackSettings } from './settings.ts';
import { HostTerminationProtection } from './termination-protection.ts';
import { watch } from './watch.ts';

/** The host id MetaDB knows the EC2 MySQL host by (an OPAQUE_ID, lambdas/core/patterns.ts). */
export const HOST_ID = 'mysql-1';
/**
 * LF6, M1 and the admin function wait for host scripts through SSM (each at most
 * HOST_SCRIPT_TIMEOUT_SECONDS, lambdas/core/host-script-timeout.ts; bindHostRunner checks the wait
 * fits) and a migration job runs several: the longest a Lambda may run.
 */
const HOST_WORKER_TIMEOUT = Duration.minutes(15);
const API_TIMEOUT = Duration.seconds(20);

export interface OctoDbStackProps extends StackProps {
  settings: StackSettings;
}

/**
 * OctoDB on AWS in one stack: network, MySQL host (+ MetaDB deployment), Redis, secrets, the
 * functions of every handler, the log pipeline, the REST API and the alarms. Env-agnostic: it
 * synthesizes without an AWS account.
 */
export class OctoDbStack extends Stack {
  readonly functions: Record<string, OctoFunction>;
  readonly api: Api;
  readonly network: Network;
  readonly secrets: Secrets;
  readonly host: DatabaseHost;
  readonly cache: Cache;
  readonly logging: Logging;
  readonly asyncFailures: Queue;
  readonly alarms: Alarms;
  readonly metadb: MetaDbDeployment;
  readonly hostProtection?: HostTerminationProtection;

  constructor(scope: Construct, id: string, props: OctoDbStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const logRetention = s.logRetentionDays as RetentionDays;

    const network = new Network(this, 'Network', {
      cidr: s.vpcCidr,
      maxAzs: s.maxAzs,
      natGateways: s.natGateways,
      interfaceEndpoints: s.interfaceEndpoints,
      redisPort: s.redisPort,
      logRetention,
    });
    const secrets = new Secrets(this, 'Secrets', { mysqlHost: MYSQL_HOSTNAME, mailgunApiKeySecretArn: s.mailgunApiKeySecretArn });
    const host = new DatabaseHost(this, 'DatabaseHost', {
      vpc: network.vpc,
      securityGroup: network.mysqlSg,
      adminSecret: secrets.mysqlAdmin,
      hostId: HOST_ID,
      instanceType: s.hostInstanceType,
      volumeGb: s.hostVolumeGb,
      packageEndpoint: network.s3Endpoint,
      backupRetentionDays: s.backupRetentionDays,
      pointInTimeDays: s.pointInTimeDays,
      mysqlSeries: s.mysqlSeries,
      skeemaVersion: s.skeemaVersion,
      skeemaSha256: { arm64: s.skeemaSha256Arm64, amd64: s.skeemaSha256Amd64 },
      amiId: s.hostAmiId,
    });
    const cache = new Cache(this, 'Cache', {
      vpc: network.vpc,
      securityGroup: network.redisSg,
      nodeType: s.redisNodeType,
      replicas: s.redisReplicas,
      port: s.redisPort,
      authToken: secrets.redisAuth,
    });
    const logging = new Logging(this, 'Logging', { logRetention, tableRetentionDays: s.logTableRetentionDays });
    this.network = network;
    this.secrets = secrets;
    this.host = host;
    this.cache = cache;
    this.logging = logging;

    const vpcAccess = { vpc: network.vpc, securityGroup: network.functionsSg };
    // Every function with a MySQL login verifies the server against the CA the host publishes.
    const mysql: MysqlServer = { url: `mysql://${MYSQL_HOSTNAME}:3306/octodb_meta`, ca: host.caParameter };
    const core: CoreBindings = { mysql, redis: cache };
    const mysqlOnly: CoreBindings = { mysql }; // LF6 and /verify never reach Redis
    // Least privilege for MySQL: only the functions that create users and databases, set tenant
    // passwords or run DDL hold the admin login; the API functions (internet-facing, /query runs
    // hostile SQL) hold the API login, which can change nothing but MetaDB rows.
    const admin: MysqlAccount = { kind: 'admin', secret: secrets.mysqlAdmin };
    const api: MysqlAccount = { kind: 'api', secret: secrets.mysqlApi };
    const fn = (id: string, p: Omit<OctoFunctionProps, 'logRetention' | 'network'>, account: MysqlAccount, reaches = core) =>
      new OctoFunction(this, id, { ...p, logRetention, network: vpcAccess }).bindCore(reaches, account);
    const templates = { 'schemas/templates': 'templates' };

    // --- functions: one per handler; what each may touch is the list of its bind calls ---
    const provision = fn('Provision', {
      name: 'provision',
      description: 'OctoDB LF6: creates a tenant database on its host (async)',
      memoryMb: 512,
      timeout: HOST_WORKER_TIMEOUT,
      bundleDirs: templates,
    }, admin, mysqlOnly) // creates the database and user, sets the tenant's password, reads a parent's tables
      .bindTemplates()
      .bindHostRunner([host.instance.instanceId])
      .bindDataKey(secrets.dataKey) // seals the tenant's MySQL password
      .bindLogQueue(logging.queue)
      .bindLogTable(logging.table, 'erase') // runs tenant erasures ({erase}, and its sweep)
      .bindBackupStore(host.backups.bucket, s.pointInTimeDays); // base backups and point-in-time restores ({restore})
    const migrateRun = fn('MigrateRun', {
      name: 'migrate-run',
      functionName: `${this.stackName}-migrate-run`,
      description: 'OctoDB M1: applies one table migration with Skeema on the host (async)',
      memoryMb: 512,
      timeout: HOST_WORKER_TIMEOUT,
      reservedConcurrency: s.migrateRunConcurrency || undefined, // 0: none
      environment: { OCTODB_MIGRATION_MAX_RETRIES: String(s.migrationMaxRetries) },
    }, admin) // ALTERs tenant tables (Skeema on the host, the cascade's direct ALTERs)
      .bindHostRunner([host.instance.instanceId])
      .bindSelfInvoke('migrate-run')
      .bindLogQueue(logging.queue)
      .bindMail({ domain: s.mailgunDomain, apiKeySecret: secrets.mailgunApiKey, from: s.mailFrom, adminEmail: s.adminEmail });
    if (s.migrateRunConcurrency > 0) Annotations.of(migrateRun).addWarningV2('octodb:reserved-concurrency', reservedConcurrencyWarning(s.migrateRunConcurrency));
    // Operator-only (no API route): `npm run admin` invokes it with the operator's IAM credentials.
    const adminFn = fn('Admin', {
      name: 'admin',
      description: 'OctoDB: creates admin tenants and their parent databases (operator-only)',
      memoryMb: 1024,
      timeout: HOST_WORKER_TIMEOUT,
      bundleDirs: templates,
    }, admin) // provisions parent databases like LF6
      .bindTemplates()
      .bindHostRunner([host.instance.instanceId])
      .bindDataKey(secrets.dataKey)
      .bindLogQueue(logging.queue)
      .bindLogTable(logging.table, 'erase'); // delete-tenant
    const authorizer = fn('Authorizer', {
      name: 'authorizer',
      description: 'OctoDB LF0: TOKEN authorizer for /dashboard, /query, /migrate',
      memoryMb: 512,
      timeout: Duration.seconds(10),
    }, api)
      .bindJwtKey(secrets.jwt)
      .bindApiKeySecret(secrets.apiKeySecret);
    // Signup's guard, shared by /signup and /verify. A Lambda instance serves one request at a time,
    // so bcrypt runs on the request's own thread there (a worker would only add a thread start).
    const signupGuard: ConfigEnvironment = {
      OCTODB_PASSWORD_WORKERS: '0',
      OCTODB_HOST_MAX_DATABASES: String(s.hostMaxDatabases),
      OCTODB_SIGNUP_VERIFY_EMAIL: String(s.signupVerifyEmail),
    };
    const signup = fn('Signup', {
      name: 'signup',
      description: 'OctoDB LF3: POST /signup',
      memoryMb: 1024, // bcrypt is CPU-bound; Lambda CPU scales with memory
      timeout: API_TIMEOUT,
      bundleDirs: templates,
      environment: signupGuard,
    }, api)
      .bindTemplates()
      .bindInvoke({ provision });
    if (s.signupVerifyEmail) signup.bindMail({ domain: s.mailgunDomain, apiKeySecret: secrets.mailgunApiKey, from: s.mailFrom });
    const verify = fn('Verify', {
      name: 'verify',
      description: 'OctoDB: POST /verify (a signup\'s emailed code starts its provisioning)',
      memoryMb: 512,
      timeout: API_TIMEOUT,
      environment: signupGuard,
    }, api, mysqlOnly).bindInvoke({ provision });
    const token = fn('Token', {
      name: 'token',
      description: 'OctoDB: POST /token',
      memoryMb: 1024,
      timeout: API_TIMEOUT,
      environment: { OCTODB_TOKEN_TTL_SECONDS: String(s.tokenTtlSeconds), OCTODB_PASSWORD_WORKERS: '0' },
    }, api)
      .bindJwtKey(secrets.jwt)
      .bindDataKey(secrets.dataKey); // seals the issued token for `read: true`
    const query = fn('Query', { name: 'query', description: 'OctoDB: POST /query', memoryMb: 512, timeout: API_TIMEOUT, judgesStatements: true }, api)
      .bindDataKey(secrets.dataKey) // opens tenant MySQL passwords: tenant SQL runs as the tenant's own user
      .bindLogQueue(logging.queue);
    const migrateSubmit = fn('MigrateSubmit', {
      name: 'migrate-submit',
      description: 'OctoDB M0: POST /migrate',
      memoryMb: 512,
      timeout: API_TIMEOUT,
      judgesStatements: true,
    }, api)
      .bindInvoke({ 'migrate-run': migrateRun })
      .bindLogQueue(logging.queue);
    const dashboard = fn('Dashboard', {
      name: 'dashboard',
      description: 'OctoDB: POST /dashboard',
      memoryMb: 512,
      timeout: API_TIMEOUT,
      // delete_account checks the password: on the request's own thread, as /token does.
      environment: { OCTODB_PASSWORD_WORKERS: '0', OCTODB_TOKEN_TTL_SECONDS: String(s.tokenTtlSeconds) },
    }, api)
      .bindDataKey(secrets.dataKey) // seals and opens page keys; opens the tenant login that reads its table facts
      .bindApiKeySecret(secrets.apiKeySecret) // hashes the API keys it creates
      .bindLogTable(logging.table, 'read')
      .bindInvoke({ provision }); // delete_account hands the erasure to LF6's function

    // Async invokes: Lambda retries match the designs (LF6 claims its database in MetaDB, so a
    // retry is safe; M1's attempts are counted per job in Redis). Events that still fail land here.
    const asyncFailures = new Queue(this, 'AsyncFailures', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(asyncFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the on-failure destination of the async functions; its depth has an alarm.',
    });
    provision.configureAsyncInvoke({
      retryAttempts: s.provisionRetryAttempts,
      maxEventAge: Duration.hours(1),
      onFailure: new SqsDestination(asyncFailures),
    });
    this.asyncFailures = asyncFailures;
    migrateRun.configureAsyncInvoke({
      retryAttempts: s.migrationMaxRetries,
      maxEventAge: Duration.hours(1),
      onFailure: new SqsDestination(asyncFailures),
    });

    // A job or cascade whose worker died stays `running` until a sweep hands it to a fresh
    // invocation: every minute, so it goes on within 2 minutes (its lease, 30 s, then this).
    new Rule(this, 'MigrationSweep', {
      description: 'OctoDB: restarts migration jobs whose worker vanished',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(migrateRun, { event: RuleTargetInput.fromObject({ sweep: true }) })],
    });
    // Likewise a database whose LF6 worker died (or whose invoke was lost, or that gave up on an
    // outage) stays `provisioning`: every minute, so a signup settles within about a minute of its
    // claim's lease running out (a sweep with nothing to do reads one range of the status index).
    new Rule(this, 'ProvisioningSweep', {
      description: 'OctoDB: provisions databases whose worker vanished',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(provision, { event: RuleTargetInput.fromObject({ sweep: true }) })],
    });

    const metadb = (this.metadb = new MetaDbDeployment(this, 'MetaDbDeployment', {
      host,
      hostId: HOST_ID,
      network: vpcAccess,
      mysqlSecret: secrets.mysqlAdmin,
      apiSecret: secrets.mysqlApi,
      mysql,
      logRetention,
    }));
    // The functions on the `octodb_api` login switch to new code or a new API secret only after
    // the deployment above has created (or re-created) that account in MySQL.
    for (const f of [authorizer, signup, verify, token, query, dashboard, migrateSubmit]) f.node.addDependency(metadb.resource);
    // Only once MetaDB is deployed on it: a first deploy that fails before then deletes the host.
    if (s.hostTerminationProtection) {
      this.hostProtection = new HostTerminationProtection(this, 'HostTerminationProtection', { instance: host.instance, after: [metadb.resource], logRetention });
    }

    // The API functions answer with the configured CORS origins and refuse bodies over maxBodyKb
    // themselves: WAF, when on, refuses them first; without it nothing else would.
    const httpEdge = { corsOrigins: s.corsOrigins, maxBodyBytes: s.maxBodyKb * 1024 };
    const routed = { signup, verify, token, dashboard, query, 'migrate-submit': migrateSubmit }; // the functions of the API's routes, by id
    for (const f of Object.values(routed)) f.bindHttpEdge(httpEdge);

    this.api = new Api(this, 'Api', {
      handlers: routed,
      authorizer,
      authorizerCacheTtlSeconds: s.authorizerCacheTtlSeconds,
      throttleRateLimit: s.throttleRateLimit,
      throttleBurstLimit: s.throttleBurstLimit,
      cloudWatchRole: s.apiGatewayCloudWatchRole,
      corsOrigins: s.corsOrigins,
      portal: s.portal ? portalRoutes() : [],
      waf: s.waf,
      wafRateLimit: s.wafRateLimit,
      maxBodyKb: s.maxBodyKb,
      logRetention,
    });

    this.functions = {
      authorizer,
      signup,
      verify,
      token,
      provision,
      query,
      'migrate-submit': migrateSubmit,
      'migrate-run': migrateRun,
      dashboard,
      'log-ingest': logging.ingest,
      'metadb-migrate': metadb.migrator,
      admin: adminFn,
    };

    // --- alarms ---
    const alarms = (this.alarms = new Alarms(this, 'Alarms', { email: s.alarmEmail }));
    alarms.whenAbove('LogDeadLetters', logging.deadLetters.metricApproximateNumberOfMessagesVisible({ period: FIVE_MINUTES }), 0,
      `Log records failed ${LOG_PIPELINE.maxReceiveCount} times and wait in the dead-letter queue`);
    alarms.whenAbove('AsyncFailures', asyncFailures.metricApproximateNumberOfMessagesVisible({ period: FIVE_MINUTES }), 0,
      'An asynchronous provisioning or migration event failed after its retries');
    for (const [name, f] of Object.entries(this.functions)) {
      alarms.whenAbove(`Errors-${name}`, f.metricErrors({ period: FIVE_MINUTES }), 0, `Function ${name} failed (uncaught error or timeout)`);
    }
    alarms.whenAbove('Api5xx', this.api.api.metricServerError({ period: FIVE_MINUTES }), 0, 'The API answered 5xx');
    alarms.whenAbove(
      'HostStatusCheck',
      new Metric({
        namespace: 'AWS/EC2',
        metricName: 'StatusCheckFailed',
        dimensionsMap: { InstanceId: host.instance.instanceId },
        period: FIVE_MINUTES,
        statistic: 'Maximum',
      }),
      0,
      'The MySQL host fails its EC2 status checks',
    );

    watch(alarms, {
      hostId: HOST_ID,
      functions: this.functions,
      asyncWorkers: { provision, 'migrate-run': migrateRun },
      logQueue: logging.queue,
      backupVault: host.vault,
    });

    for (const f of Object.values(this.functions)) {
      Validations.of(f).acknowledge({
        id: 'AwsSolutions-L1',
        reason: 'Node.js 22 is the runtime OctoDB is tested on (code bundled for Node 20 syntax); moving to 24 is a deliberate upgrade.',
      });
    }

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the OctoDB API' });
    if (s.portal) new CfnOutput(this, 'PortalUrl', { value: this.api.url, description: 'The OctoDB web portal (the API stage serves it at its root)' });
    new CfnOutput(this, 'HostInstanceId', { value: host.instance.instanceId, description: 'MySQL host (aws ssm start-session --target …)' });
    new CfnOutput(this, 'DataVolumeId', { value: host.dataVolume.volumeId, description: 'EBS volume holding MySQL data (retained)' });
    new CfnOutput(this, 'BackupBucketName', { value: host.backups.bucket.bucketName, description: 'Binlogs and base backups of the MySQL host (retained; bin/restore-host.sh reads it)' });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarms.topic.topicArn });
    new CfnOutput(this, 'AlarmTopicKeyArn', { value: alarms.key.keyArn, description: 'KMS key of the alarm topic (retained by cdk destroy)' });
    new CfnOutput(this, 'LogTableName', { value: logging.table.tableName });
    new CfnOutput(this, 'AdminFunctionName', { value: adminFn.functionName, description: 'OCTODB_ADMIN_FUNCTION for npm run admin' });
    new CfnOutput(this, 'MysqlAdminSecretArn', { value: secrets.mysqlAdmin.secretArn, description: 'ARN only; the value stays in Secrets Manager' });
    new CfnOutput(this, 'MysqlApiSecretArn', { value: secrets.mysqlApi.secretArn, description: 'MySQL API login (MetaDB rows only); ARN only' });
  }
}

/**
 * Said at synth, before `cdk deploy` starts: Lambda refuses a reservation that leaves fewer than 100
 * unreserved executions, and new accounts often have a limit of 10, where the deploy would fail on
 * MigrateRun after the host is up (it rolls back cleanly, but a quarter of an hour later).
 */
export function reservedConcurrencyWarning(reserved: number): string {
  return (
    `migrate-run reserves ${reserved} concurrent executions: Lambda keeps 100 unreserved, so this region's account limit must be at least ${100 + reserved} ` +
    '(new accounts often have 10, and the deploy fails on MigrateRun). Check: aws lambda get-account-settings --query AccountLimit.ConcurrentExecutions. ' +
    'Raise it (Service Quotas, lambda L-B99A9384) or deploy with -c migrateRunConcurrency=0 (no reservation; docs/deploy.md, Prerequisites).'
  );
}
