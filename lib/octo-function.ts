import { join } from 'node:path';
import { Arn, ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import { SubnetType } from 'aws-cdk-lib/aws-ec2';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type EnvironmentOptions, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStringParameter } from 'aws-cdk-lib/aws-ssm';
import { Validations } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { HOST_SCRIPT_TIMEOUT_SECONDS, hostScriptWaitSeconds } from '#core/host-script-timeout';
import type { ConfigEnvironment, ConfigKey } from '#shared/config';
import type { RedisEndpoint } from './cache.ts';

export const ROOT = join(import.meta.dirname, '..');

/** The asynchronously invoked roles, as lambdas/core/ports.ts names them (AsyncFunction). */
export type AsyncRole = 'provision' | 'migrate-run';

export interface OctoFunctionProps {
  /** Folder under lambdas/ holding handler.ts. */
  name: string;
  description: string;
  memoryMb: number;
  timeout: Duration;
  logRetention: RetentionDays;
  /** Private subnets and the functions' security group, for functions that reach MySQL or Redis. */
  network?: { vpc: IVpc; securityGroup: ISecurityGroup };
  /** Repository folders copied into the bundle: { 'schemas/templates': 'templates' }. */
  bundleDirs?: Record<string, string>;
  reservedConcurrency?: number;
  /** Settings by their lambdas/shared/config.ts names. */
  environment?: ConfigEnvironment;
  /** A fixed name, only for a function that must know its own (see bindSelfInvoke). */
  functionName?: string;
  /** Validates tenant SQL (/query, /migrate): bundles the statement judge's worker next to index.mjs. */
  judgesStatements?: boolean;
}

/** Variables read by Node and Powertools, not by OctoDB's config: the only names besides settings a function gets. */
export const PLATFORM_ENVIRONMENT = {
  NODE_OPTIONS: '--enable-source-maps',
  POWERTOOLS_SERVICE_NAME: 'octodb',
  POWERTOOLS_LOG_LEVEL: 'INFO',
} as const;

/** Worker thread entries bundled beside index.mjs, each where its adapter looks for it: output name → source. */
const STATEMENT_JUDGE_WORKER = { 'statement-judge-worker.mjs': 'lambdas/adapters/statement-judge-thread.ts' };
const REQUIRE_BANNER = "import { createRequire as __octoCreateRequire } from 'node:module'; const require = __octoCreateRequire(import.meta.url);";

/** One more esbuild run (esbuild bundles one entry per function; a worker is a second entry). */
function bundleWorker(inputDir: string, outputDir: string, out: string, source: string): string {
  return [
    `"${inputDir}/node_modules/.bin/esbuild" "${inputDir}/${source}" --bundle --platform=node --format=esm --target=node20`,
    `--minify --sourcemap --sources-content=false --main-fields=module,main --outfile="${outputDir}/${out}" --banner:js="${REQUIRE_BANNER}"`,
  ].join(' ');
}

/** What a function's root (lambdas/adapters/roots.ts) connects to: MetaDB, and Redis unless it never uses it. */
export interface CoreBindings {
  mysql: MysqlServer;
  redis?: RedisEndpoint;
}

/** Where a function reaches MySQL, and the CA it verifies the server's certificate against. */
export interface MysqlServer {
  url: string;
  ca: IStringParameter;
}

/**
 * The one MySQL login a function holds: `api` (DML on MetaDB only) for everything behind the API,
 * `admin` only where the code creates users or databases, sets passwords or runs DDL.
 */
export type MysqlAccount = { kind: 'admin' | 'api'; secret: ISecret };

/**
 * OctoDB's one Lambda construct: Node 22 on arm64 (bundled for Node 20 syntax, so it also runs
 * there), ESM bundle with source maps, its own log group with retention, and a role that starts
 * with nothing but writing its own logs. Each bindX() sets the setting's env variable (names as in
 * lambdas/shared/config.ts) and grants exactly the access that setting needs, in one call.
 */
export class OctoFunction extends NodejsFunction {
  readonly logs: LogGroup;
  readonly executionRole: Role;
  private readonly physicalFunctionName?: string;
  private readonly functionNames: Partial<Record<AsyncRole, string>> = {};

  constructor(scope: Construct, id: string, props: OctoFunctionProps) {
    const logs = new LogGroup(scope, `${id}Logs`, { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `OctoDB ${props.name}: execution role`,
      inlinePolicies: props.network ? { vpcAccess: vpcAccessPolicy() } : undefined,
    });
    logs.grantWrite(role);
    const copies = Object.entries(props.bundleDirs ?? {});
    const workers = Object.entries(props.judgesStatements ? STATEMENT_JUDGE_WORKER : {});
    super(scope, id, {
      entry: join(ROOT, 'lambdas', props.name, 'handler.ts'),
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: join(ROOT, 'package-lock.json'),
      description: props.description,
      functionName: props.functionName,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memoryMb,
      timeout: props.timeout,
      role,
      logGroup: logs,
      reservedConcurrentExecutions: props.reservedConcurrency,
      vpc: props.network?.vpc,
      vpcSubnets: props.network ? { subnetType: SubnetType.PRIVATE_WITH_EGRESS } : undefined,
      securityGroups: props.network ? [props.network.securityGroup] : undefined,
      environment: {
        ...PLATFORM_ENVIRONMENT,
        OCTODB_RUNTIME: 'lambda',
        ...props.environment,
      } satisfies ConfigEnvironment & typeof PLATFORM_ENVIRONMENT,
      bundling: {
        format: OutputFormat.ESM,
        target: 'node20',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        bundleAwsSDK: true, // the SDK versions the tests ran with, not whatever the runtime ships
        mainFields: ['module', 'main'],
        // CommonJS dependencies (mysql2, ioredis) call require() for Node built-ins.
        banner: REQUIRE_BANNER,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir: string, outputDir: string) => [
            ...copies.map(([from, to]) => `cp -R "${inputDir}/${from}" "${outputDir}/${to}"`),
            ...workers.map(([out, source]) => bundleWorker(inputDir, outputDir, out, source)),
          ],
        },
      },
    });
    this.logs = logs;
    this.executionRole = role;
    this.physicalFunctionName = props.functionName;
    if (props.network) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Lambda creates and removes its VPC network interfaces itself; these EC2 ENI actions have no resource-level scoping before the ENI exists.',
      });
    }
  }

  /** Sets a setting by its config name: only names lambdas/shared/config.ts declares compile. */
  override addEnvironment(key: ConfigKey, value: string, options?: EnvironmentOptions): this {
    return super.addEnvironment(key, value, options);
  }

  /** What the function's root connects to: MetaDB (as the given account) and Redis if named. Keys are bound per function. */
  bindCore(core: CoreBindings, account: MysqlAccount): this {
    const bound = account.kind === 'admin' ? this.bindMysql(account.secret, core.mysql) : this.bindMysqlApi(account.secret, core.mysql);
    return core.redis ? bound.bindRedis(core.redis) : bound;
  }

  /** MySQL admin login: the secret {username,password,host,port}; the URL carries only host and schema. */
  bindMysql(secret: ISecret, mysql: MysqlServer): this {
    return this.bindMysqlSecret('OCTODB_MYSQL_SECRET_ARN', secret, mysql);
  }

  /** MySQL API login (MetaDB rows only), secret as bindMysql's; the function then has no admin login. */
  bindMysqlApi(secret: ISecret, mysql: MysqlServer): this {
    return this.bindMysqlSecret('OCTODB_MYSQL_API_SECRET_ARN', secret, mysql);
  }

  /** With a login comes the CA: every MySQL connection is TLS with the server verified (lambdas/adapters/mysql-tls.ts). */
  private bindMysqlSecret(arnVariable: 'OCTODB_MYSQL_SECRET_ARN' | 'OCTODB_MYSQL_API_SECRET_ARN', secret: ISecret, mysql: MysqlServer): this {
    this.addEnvironment('OCTODB_MYSQL_URL', mysql.url);
    this.addEnvironment(arnVariable, secret.secretArn);
    secret.grantRead(this);
    this.addEnvironment('OCTODB_MYSQL_CA_PARAMETER', mysql.ca.parameterName);
    mysql.ca.grantRead(this);
    return this;
  }

  /** Redis over TLS with AUTH: the URL names no password; the token's secret is read at cold start. */
  bindRedis(redis: RedisEndpoint): this {
    this.addEnvironment('OCTODB_REDIS_URL', redis.url);
    this.addEnvironment('OCTODB_REDIS_AUTH_SECRET_ARN', redis.authToken.secretArn);
    redis.authToken.grantRead(this);
    return this;
  }

  bindJwtKey(secret: ISecret): this {
    this.addEnvironment('OCTODB_JWT_SECRET_ARN', secret.secretArn);
    secret.grantRead(this);
    return this;
  }

  /** The key API keys are hashed under: the authorizer checks keys, /dashboard creates them. */
  bindApiKeySecret(secret: ISecret): this {
    this.addEnvironment('OCTODB_API_KEY_SECRET_ARN', secret.secretArn);
    secret.grantRead(this);
    return this;
  }

  bindDataKey(secret: ISecret): this {
    this.addEnvironment('OCTODB_DATA_KEY_SECRET_ARN', secret.secretArn);
    secret.grantRead(this);
    return this;
  }

  /**
   * The HTTP edge of an API function (lambdas/shared/http.ts): the CORS origins its responses
   * name and the largest request body it accepts (413 above it, with or without WAF).
   */
  bindHttpEdge(edge: { corsOrigins: readonly string[]; maxBodyBytes: number }): this {
    if (edge.corsOrigins.length > 0) this.addEnvironment('OCTODB_CORS_ORIGINS', edge.corsOrigins.join(','));
    this.addEnvironment('OCTODB_MAX_BODY_BYTES', String(edge.maxBodyBytes));
    return this;
  }

  /**
   * Point-in-time restore's backup store: the host's backup bucket, written and read by host scripts
   * under the host's role (the function only names it: no S3 grant here), and how long base backups
   * are kept (the bucket's expiry must not come sooner).
   */
  bindBackupStore(bucket: IBucket, keepDays: number): this {
    this.addEnvironment('OCTODB_BACKUP_DIR', `s3://${bucket.bucketName}`);
    this.addEnvironment('OCTODB_BASE_BACKUP_DAYS', String(keepDays));
    return this;
  }

  /** Templates bundled next to the handler (bundleDirs 'schemas/templates' → 'templates'). */
  bindTemplates(bundledDir = 'templates'): this {
    this.addEnvironment('OCTODB_TEMPLATES_DIR', `/var/task/${bundledDir}`);
    return this;
  }

  /**
   * Host scripts through SSM: SendCommand only to these instances and only with the
   * AWS-RunShellScript document; reading a command's result (no resource-level scoping exists).
   * The function must outlive its wait for one script, or Lambda would stop it mid-script.
   */
  bindHostRunner(instanceIds: string[], scriptTimeoutSeconds = HOST_SCRIPT_TIMEOUT_SECONDS): this {
    const wait = hostScriptWaitSeconds(scriptTimeoutSeconds);
    if (!this.timeout || this.timeout.toSeconds() <= wait) {
      throw new Error(`${this.node.id}: a ${scriptTimeoutSeconds} s host script is waited for up to ${wait} s, longer than the function's timeout`);
    }
    const stack = Stack.of(this);
    this.addEnvironment('OCTODB_HOST_RUNNER', 'ssm');
    this.addEnvironment('OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS', String(scriptTimeoutSeconds));
    this.addToRolePolicy(
      new PolicyStatement({
        sid: 'SendHostScripts',
        actions: ['ssm:SendCommand'],
        resources: [
          ...instanceIds.map((id) => Arn.format({ service: 'ec2', resource: 'instance', resourceName: id }, stack)),
          Arn.format({ service: 'ssm', account: '', resource: 'document', resourceName: 'AWS-RunShellScript' }, stack),
        ],
      }),
    );
    this.addToRolePolicy(new PolicyStatement({ sid: 'ReadHostScriptResults', actions: ['ssm:GetCommandInvocation'], resources: ['*'] }));
    Validations.of(this.executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ssm:GetCommandInvocation supports no resource-level permissions; it only reads results of commands this role sent.',
    });
    return this;
  }

  /** Asynchronous invokes (Lambda InvocationType=Event) of exactly the given functions. */
  bindInvoke(targets: Partial<Record<AsyncRole, OctoFunction>>): this {
    for (const [role, fn] of Object.entries(targets) as [AsyncRole, OctoFunction][]) {
      this.functionNames[role] = fn.functionName;
      this.addToRolePolicy(new PolicyStatement({ sid: `Invoke${fn.node.id}`, actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
    }
    this.addEnvironment('OCTODB_FUNCTION_NAMES', Stack.of(this).toJsonString(this.functionNames));
    return this;
  }

  /**
   * Lets the function invoke itself asynchronously (M1 hands a cascade's next chunk and stale
   * jobs to fresh invocations). Its name must be fixed: a generated one would make the function
   * reference itself, which CloudFormation refuses.
   */
  bindSelfInvoke(role: AsyncRole): this {
    const name = this.physicalFunctionName;
    if (!name) throw new Error(`${this.node.id}: bindSelfInvoke needs a fixed functionName`);
    this.functionNames[role] = name;
    const arn = Stack.of(this).formatArn({ service: 'lambda', resource: 'function', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    this.addToRolePolicy(new PolicyStatement({ sid: 'InvokeSelf', actions: ['lambda:InvokeFunction'], resources: [arn] }));
    this.addEnvironment('OCTODB_FUNCTION_NAMES', Stack.of(this).toJsonString(this.functionNames));
    return this;
  }

  /** Producer side of the log pipeline. */
  bindLogQueue(queue: IQueue): this {
    this.addEnvironment('OCTODB_LOG_QUEUE_URL', queue.queueUrl);
    queue.grantSendMessages(this);
    return this;
  }

  /** `erase`: a tenant erasure's deletion of its partition (Query its keys, delete them in batches), nothing else. */
  bindLogTable(table: ITable, access: 'read' | 'write' | 'erase'): this {
    this.addEnvironment('OCTODB_LOG_TABLE', table.tableName);
    if (access === 'read') table.grantReadData(this);
    else if (access === 'write') table.grantWriteData(this);
    else table.grant(this, 'dynamodb:Query', 'dynamodb:BatchWriteItem');
    return this;
  }

  /** Mailgun is optional: without it emails go to the logs. */
  bindMail(mail: { domain?: string; apiKeySecret?: ISecret; from?: string; adminEmail?: string }): this {
    if (mail.domain && mail.apiKeySecret) {
      this.addEnvironment('OCTODB_MAILGUN_DOMAIN', mail.domain);
      this.addEnvironment('OCTODB_MAILGUN_API_KEY_SECRET_ARN', mail.apiKeySecret.secretArn);
      mail.apiKeySecret.grantRead(this);
    }
    if (mail.from) this.addEnvironment('OCTODB_MAIL_FROM', mail.from);
    if (mail.adminEmail) this.addEnvironment('OCTODB_ADMIN_EMAIL', mail.adminEmail);
    return this;
  }
}

/** What Lambda needs to attach a function to private subnets (the managed policy, inline). */
function vpcAccessPolicy(): PolicyDocument {
  return new PolicyDocument({
    statements: [
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    ],
  });
}
