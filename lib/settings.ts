import type { Node } from 'constructs';
import { z } from 'zod';
import { ORIGIN } from '#core/patterns';

/**
 * Every deployment setting, read from cdk.json context (or `cdk deploy -c key=value`), declared
 * once with its default. docs/deploy.md documents each one.
 */
const bool = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256');
/** 64 (Lambda's limit on function names) minus '-migrate-run'. */
export const MAX_STACK_NAME = 64 - '-migrate-run'.length;

export const stackSettings = z.object({
  /**
   * CloudFormation stack name. At most 52 characters: M1's function is named
   * `<stackName>-migrate-run`, and Lambda function names are at most 64.
   */
  stackName: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'letters, digits and hyphens, starting with a letter')
    .max(MAX_STACK_NAME, `at most ${MAX_STACK_NAME} characters (the function "<stackName>-migrate-run" must fit Lambda's 64)`)
    .default('OctoDb'),

  // --- network ---
  vpcCidr: z.string().regex(/^\d+\.\d+\.\d+\.\d+\/(1[6-9]|2[0-4])$/).default('10.42.0.0/16'),
  maxAzs: int(2, 3).default(2),
  /** NAT gateways: the host's bootstrap (dnf, GitHub) and the functions reach AWS APIs through them. */
  natGateways: int(1, 3).default(1),
  /** Interface VPC endpoints for SSM, Secrets Manager, Lambda, SQS (≈ $7.30/month each per AZ). */
  interfaceEndpoints: bool.default(false),

  // --- MySQL host ---
  hostInstanceType: z.string().regex(/^[a-z0-9]+\.[a-z0-9]+$/).default('t4g.small'),
  /** Size of the MySQL data volume (gp3, encrypted, retained); it can grow later, never shrink. */
  hostVolumeGb: int(20, 16384).default(30),
  /** A fixed AMI for the host; unset = the newest Amazon Linux 2023 AMI at the host's launch. Changing it replaces the host. */
  hostAmiId: z.string().regex(/^ami-[0-9a-f]{8,17}$/, 'an AMI id like ami-0123456789abcdef0').optional(),
  /** EC2 termination protection (turn off before `cdk destroy`). */
  hostTerminationProtection: bool.default(true),
  /** Days AWS Backup keeps the daily backups of the data volume. */
  backupRetentionDays: int(1, 36500).default(35),
  /**
   * Days the base backups in the host backup bucket are kept (binlogs one day more): how far back a
   * whole-host or per-database restore to a point in time reaches.
   */
  pointInTimeDays: int(1, 3650).default(7),
  /** MySQL community repository series installed by user data (packages GPG-verified by dnf). */
  mysqlSeries: z.enum(['8.0', '8.4']).default('8.4'),
  skeemaVersion: z.string().regex(/^\d+\.\d+\.\d+$/).default('1.12.3'),
  /** sha256 of skeema_<version>_linux_<arch>.tar.gz; the host refuses any other file. */
  skeemaSha256Arm64: sha256.default('036b5afe43110db73db99c48e831ed83631d926f5bbf1b33ff9aada440753c45'),
  skeemaSha256Amd64: sha256.default('7e7825f27407a79ff7f109ea41ceb4442cde3d075683a4149246e19848d817b8'),

  // --- Redis ---
  redisNodeType: z.string().regex(/^cache\.[a-z0-9]+\.[a-z0-9]+$/).default('cache.t4g.micro'),
  /** Read replicas; ≥ 1 turns on Multi-AZ automatic failover. */
  redisReplicas: int(0, 5).default(0),
  redisPort: int(1024, 65535).default(6380),

  // --- API ---
  /**
   * Seconds API Gateway caches an authorizer decision (keyed by the Authorization header). 0 = a
   * revoked token or API key stops at once; above 0 a cached Allow outlives a revocation by up to this.
   */
  authorizerCacheTtlSeconds: int(0, 3600).default(0),
  throttleRateLimit: int(1, 10000).default(50),
  throttleBurstLimit: int(1, 5000).default(100),
  /**
   * Sets the region's account-wide API Gateway CloudWatch Logs role (AWS::ApiGateway::Account),
   * which stage logging needs. Turn off in further stacks of the same account and region.
   */
  apiGatewayCloudWatchRole: bool.default(true),
  /** Browser origins allowed by CORS (scheme://host[:port], as browsers send Origin); empty = no CORS at all. */
  corsOrigins: z
    .array(z.string().regex(ORIGIN, 'an origin like https://app.example.com (no path, no trailing slash)'))
    .default([]),
  /** The web portal (lib/portal), served by the API's own stage at its root (lib/portal-build.ts, lib/api.ts). */
  portal: bool.default(true),
  /** AWS WAF in front of the API: per-IP rate limit and request body size limit. */
  waf: bool.default(true),
  /** Requests per 5 minutes per source IP before WAF blocks. */
  wafRateLimit: int(100, 2_000_000_000).default(1000),
  /** Largest request body in KB: the API functions answer 413 above it, and WAF blocks it first when on (WAF inspects at most 64 KB of an API Gateway body). */
  maxBodyKb: z.coerce.number().pipe(z.union([z.literal(16), z.literal(32), z.literal(48), z.literal(64)])).default(64),

  // --- functions ---
  logRetentionDays: int(1, 3653).default(30),
  /** OCTODB_LOG_RETENTION_DAYS of L1: days a log table item lives before DynamoDB's TTL deletes it; 0 = kept. Unset: its default (90). */
  logTableRetentionDays: int(0, 3650).optional(),
  /**
   * Reserved concurrency of migrate-run (M1): at most this many Skeema runs hit a host at once. It
   * needs an account concurrency limit of at least 100 + this (synth warns); 0 = no reservation.
   */
  migrateRunConcurrency: int(0, 100).default(2),
  /** Lambda's async retries of LF6 (provisioning is idempotent through its MetaDB claim). */
  provisionRetryAttempts: int(0, 2).default(2),
  /** M1 retries (Lambda async retries = OCTODB_MIGRATION_MAX_RETRIES, tracked per job in Redis). */
  migrationMaxRetries: int(0, 2).default(2),
  tokenTtlSeconds: int(60, 30 * 86400).default(3600),

  // --- signup guard ---
  /** OCTODB_SIGNUP_VERIFY_EMAIL: signups provision only after POST /verify with the code Mailgun sent (needs Mailgun). */
  signupVerifyEmail: bool.default(false),
  /** OCTODB_HOST_MAX_DATABASES: tenant databases the MySQL host holds at most; past it /signup answers 503 NO_CAPACITY. */
  hostMaxDatabases: int(1, 1_000_000).default(5000),

  // --- notifications ---
  /** Subscribed by email to the alarm topic when set. */
  alarmEmail: z.string().email().optional(),
  mailgunDomain: z.string().optional(),
  /** ARN of an existing Secrets Manager secret holding the Mailgun API key (create it yourself). */
  mailgunApiKeySecretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:/).optional(),
  mailFrom: z.string().optional(),
  adminEmail: z.string().email().optional(),
});

export type StackSettings = z.infer<typeof stackSettings>;

/** Reads the settings from the construct tree's context; unknown values fail the synth with their name. */
export function readSettings(node: Node): StackSettings {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(stackSettings.shape)) {
    const value = node.tryGetContext(key);
    if (value !== undefined && value !== '') raw[key] = typeof value === 'string' && key === 'corsOrigins' ? JSON.parse(value) : value;
  }
  const parsed = stackSettings.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid cdk context: ${problems}`);
  }
  const s = parsed.data;
  if (Boolean(s.mailgunDomain) !== Boolean(s.mailgunApiKeySecretArn)) {
    throw new Error('invalid cdk context: set both mailgunDomain and mailgunApiKeySecretArn, or neither');
  }
  if (s.signupVerifyEmail && !s.mailgunDomain) {
    throw new Error('invalid cdk context: signupVerifyEmail needs Mailgun (mailgunDomain and mailgunApiKeySecretArn) to send the codes');
  }
  return s;
}
