import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../lib/octo-function.ts';
import { createGateway, routesOf } from '../../lambdas/adapters/local-gateway.ts';
import { type ApiFunction, GATEWAY_ROUTES, ROUTES } from '../../lambdas/shared/http-api.ts';
import { readSettings, stackSettings } from '../../lib/settings.ts';
import { actionsOf, functionId, functionRoleId, refsIn, statementsByRole, synth, type Synthesized } from './support.ts';

const MAILGUN_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:octodb/mailgun-AbCdEf';

/** The non-default configuration: every optional feature switched the other way. */
const CONFIGURED = {
  stackName: 'OctoDbStaging',
  authorizerCacheTtlSeconds: '300',
  corsOrigins: '["https://app.example.com"]',
  waf: 'false',
  hostTerminationProtection: 'false',
  redisReplicas: 1,
  migrateRunConcurrency: 5,
  logTableRetentionDays: 14,
  maxBodyKb: 32,
  alarmEmail: 'ops@example.com',
  mailgunDomain: 'mg.example.com',
  mailgunApiKeySecretArn: MAILGUN_ARN,
  interfaceEndpoints: true,
  hostInstanceType: 'm7i.large',
  apiGatewayCloudWatchRole: 'false',
};

/** The functions behind API routes: they carry the HTTP edge settings (CORS, body cap). */
const API_FUNCTIONS = ['signup', 'verify', 'token', 'dashboard', 'query', 'migrate-submit'];

let s: Synthesized;
const ofType = (type: string) => Object.entries(s.resources).filter(([, r]) => r.Type === type);
const envOf = (name: string): Record<string, unknown> => s.resources[functionId(s, name)]!.Properties!.Environment?.Variables ?? {};
const TWO_ORIGINS = ['https://app.example.com', 'https://admin.example.com:8443'];
let twoOrigins: Synthesized | undefined;
/** The stack with two CORS origins (and WAF on), synthesized once for the tests that need it. */
const withTwoOrigins = () => (twoOrigins ??= synth({ corsOrigins: JSON.stringify(TWO_ORIGINS) }));

beforeAll(() => {
  s = synth(CONFIGURED);
});

describe('configuration through cdk context', () => {
  it('caches authorizer decisions for the configured TTL', () => {
    s.template.hasResourceProperties('AWS::ApiGateway::Authorizer', { AuthorizerResultTtlInSeconds: 300 });
  });

  it('answers CORS preflights for the configured origin only', () => {
    const options = ofType('AWS::ApiGateway::Method').filter(([, m]) => m.Properties!.HttpMethod === 'OPTIONS');
    expect(options.length).toBeGreaterThanOrEqual(5);
    const headers = JSON.stringify(options.map(([, m]) => m.Properties!.Integration));
    expect(headers).toContain("'https://app.example.com'");
    expect(headers).not.toContain("'*'");
  });

  it('answers preflights on the table’s routes only, with the very headers the local gateway sends', async () => {
    const paths = Object.fromEntries(ofType('AWS::ApiGateway::Resource').map(([rid, r]) => [rid, `/${r.Properties!.PathPart}`]));
    const options = ofType('AWS::ApiGateway::Method').filter(([, m]) => m.Properties!.HttpMethod === 'OPTIONS').map(([, m]) => m.Properties!);
    expect(options.map((m) => paths[m.ResourceId.Ref]).sort()).toEqual([...new Set(ROUTES.map((r) => r.path))].sort()); // none on the root
    const local = createGateway({
      edge: { corsOrigins: ['https://app.example.com'], maxBodyBytes: 1024 },
      authorizer: async () => Promise.reject(new Error('a preflight needs no authorizer')),
      routes: routesOf(Object.fromEntries(ROUTES.map((r) => [r.fn, async () => Promise.reject(new Error('nor a handler'))])) as Record<ApiFunction, () => Promise<never>>),
    });
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    try {
      for (const m of options) {
        const [answer] = m.Integration.IntegrationResponses as { StatusCode: string; ResponseParameters: Record<string, string> }[];
        const mock = Object.fromEntries(
          Object.entries(answer!.ResponseParameters).map(([key, value]) => [key.replace('method.response.header.', '').toLowerCase(), value.replace(/^'|'$/g, '')]),
        );
        const res = await fetch(`http://127.0.0.1:${(local.address() as AddressInfo).port}${paths[m.ResourceId.Ref]}`, {
          method: 'OPTIONS',
          headers: { origin: 'https://app.example.com' },
        });
        expect(String(res.status)).toBe(answer!.StatusCode);
        expect(Object.fromEntries([...res.headers].filter(([name]) => name in mock))).toEqual(mock);
        expect(Object.keys(mock).sort()).toEqual(['access-control-allow-headers', 'access-control-allow-methods', 'access-control-allow-origin', 'vary']);
      }
    } finally {
      await new Promise((r) => local.close(r));
    }
  });

  it('answers GET /health with the headers the local gateway sends: its own, and the first origin as API Gateway’s own answers', async () => {
    const both = withTwoOrigins();
    const paths = Object.fromEntries(Object.entries(both.resources).filter(([, r]) => r.Type === 'AWS::ApiGateway::Resource').map(([rid, r]) => [rid, `/${r.Properties!.PathPart}`]));
    const [health] = Object.values(both.resources).filter((r) => r.Type === 'AWS::ApiGateway::Method' && paths[r.Properties!.ResourceId.Ref] === '/health');
    const [answer] = health!.Properties!.Integration.IntegrationResponses as { StatusCode: string; ResponseParameters: Record<string, string>; ResponseTemplates: Record<string, string> }[];
    const mock = Object.fromEntries(
      Object.entries(answer!.ResponseParameters).map(([key, value]) => [key.replace('method.response.header.', '').toLowerCase(), value.replace(/^'|'$/g, '')]),
    );
    expect(mock).toEqual({ 'content-type': 'application/json', 'cache-control': 'no-store', 'access-control-allow-origin': TWO_ORIGINS[0], vary: 'Origin' });
    const local = createGateway({
      edge: { corsOrigins: TWO_ORIGINS, maxBodyBytes: 1024 },
      authorizer: async () => Promise.reject(new Error('/health needs no authorizer')),
      routes: routesOf(Object.fromEntries(ROUTES.map((r) => [r.fn, async () => Promise.reject(new Error('nor a handler'))])) as Record<ApiFunction, () => Promise<never>>),
    });
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(local.address() as AddressInfo).port}${GATEWAY_ROUTES[0].path}`, { headers: { origin: TWO_ORIGINS[1]! } });
      expect(String(res.status)).toBe(answer!.StatusCode);
      expect(Object.fromEntries([...res.headers].filter(([name]) => name in mock))).toEqual(mock);
      expect(await res.text()).toBe(answer!.ResponseTemplates['application/json']);
    } finally {
      await new Promise((r) => local.close(r));
    }
  });

  it('has a preflight name the caller’s origin when it is one of several listed, as the local gateway does', () => {
    const both = withTwoOrigins();
    const options = Object.values(both.resources).filter((r) => r.Type === 'AWS::ApiGateway::Method' && r.Properties!.HttpMethod === 'OPTIONS');
    expect(options).toHaveLength(new Set(ROUTES.map((r) => r.path)).size);
    for (const m of options) {
      const template: string = m.Properties!.Integration.IntegrationResponses[0].ResponseTemplates['application/json'];
      expect(template).toContain(`#if($origin == "${TWO_ORIGINS[1]}")\n  #set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)`);
    }
  });

  it('puts the configured origin on every answer: handler responses, API Gateway’s own 4xx/5xx', () => {
    const gatewayResponses = ofType('AWS::ApiGateway::GatewayResponse').map(([, r]) => r.Properties!);
    expect(gatewayResponses.map((r) => r.ResponseType).sort()).toEqual(['AUTHORIZER_CONFIGURATION_ERROR', 'AUTHORIZER_FAILURE', 'DEFAULT_4XX', 'DEFAULT_5XX']);
    for (const r of gatewayResponses) {
      expect(r.ResponseParameters).toMatchObject({
        'gatewayresponse.header.Access-Control-Allow-Origin': "'https://app.example.com'",
        'gatewayresponse.header.Vary': "'Origin'",
      });
    }
    for (const name of API_FUNCTIONS) expect(envOf(name).OCTODB_CORS_ORIGINS, name).toBe('https://app.example.com');
    for (const name of Object.keys(s.stack.functions).filter((n) => !API_FUNCTIONS.includes(n))) {
      expect(envOf(name).OCTODB_CORS_ORIGINS, name).toBeUndefined();
    }
  });

  it('has the API functions refuse bodies over maxBodyKb themselves when WAF is off', () => {
    for (const name of API_FUNCTIONS) expect(envOf(name).OCTODB_MAX_BODY_BYTES, name).toBe(String(32 * 1024));
  });

  it('lets WAF’s blocks name the first of several configured origins too', () => {
    const both = withTwoOrigins();
    const acl = Object.values(both.resources).find((r) => r.Type === 'AWS::WAFv2::WebACL')!;
    const headers = [{ Name: 'Access-Control-Allow-Origin', Value: 'https://app.example.com' }, { Name: 'Vary', Value: 'Origin' }];
    const actions = Object.fromEntries(acl.Properties!.Rules.map((r: any) => [r.Name, r.Action.Block.CustomResponse]));
    expect(actions).toEqual({
      RateLimitPerIp: { ResponseCode: 403, ResponseHeaders: headers },
      BodySizeLimit: { ResponseCode: 413, CustomResponseBodyKey: 'BodyTooLarge', ResponseHeaders: headers },
    });
    const signup = both.resources[functionId(both, 'signup')]!.Properties!.Environment.Variables;
    expect(signup.OCTODB_CORS_ORIGINS).toBe('https://app.example.com,https://admin.example.com:8443');
  });

  it('drops WAF when turned off, turns on Multi-AZ Redis and the M1 concurrency asked for', () => {
    expect(ofType('AWS::WAFv2::WebACL')).toHaveLength(0);
    s.template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', { NumCacheClusters: 2, MultiAZEnabled: true, AutomaticFailoverEnabled: true });
    expect(s.resources[functionId(s, 'migrate-run')]!.Properties!.ReservedConcurrentExecutions).toBe(5);
  });

  it('gives the log table’s writer (L1) the retention asked for, and no other function', () => {
    expect(envOf('log-ingest').OCTODB_LOG_RETENTION_DAYS).toBe('14');
    for (const [, f] of ofType('AWS::Lambda::Function')) if (f !== s.resources[functionId(s, 'log-ingest')]) expect(f.Properties!.Environment?.Variables?.OCTODB_LOG_RETENTION_DAYS).toBeUndefined();
  });

  it('leaves the account-wide API Gateway CloudWatch role to another stack when told to', () => {
    expect(ofType('AWS::ApiGateway::Account')).toHaveLength(0);
    const roles = ofType('AWS::IAM::Role').map(([, r]) => JSON.stringify(r.Properties!.AssumeRolePolicyDocument));
    expect(roles.filter((r) => r.includes('apigateway.amazonaws.com'))).toEqual([]);
  });

  it('subscribes the alarm email and adds the interface endpoints', () => {
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    expect(ofType('AWS::EC2::VPCEndpoint').filter(([, e]) => e.Properties!.VpcEndpointType === 'Interface')).toHaveLength(6);
  });

  it('installs the amd64 Skeema build with its own checksum on an x86 host', () => {
    const userData = JSON.stringify(ofType('AWS::EC2::Instance')[0]![1].Properties!.UserData);
    expect(userData).toContain('skeema_1.12.3_linux_amd64.tar.gz');
    expect(userData).toContain('7e7825f27407a79ff7f109ea41ceb4442cde3d075683a4149246e19848d817b8');
  });

  it('launches an x86 host from the x86 Amazon Linux 2023 parameter, or from a pinned AMI when one is set', () => {
    expect(ofType('AWS::EC2::Instance')[0]![1].Properties!.ImageId).toBe('resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64');
    const pinned = synth({ hostAmiId: 'ami-0123456789abcdef0' });
    const instance = Object.values(pinned.resources).find((r) => r.Type === 'AWS::EC2::Instance')!;
    expect(instance.Properties!.ImageId).toBe('ami-0123456789abcdef0');
    expect(Object.keys(pinned.template.toJSON().Parameters ?? {}).filter((k) => k.startsWith('SsmParameterValue'))).toEqual([]);
  });

  it('gives only M1 the Mailgun key, by ARN, and the domain', () => {
    expect(envOf('migrate-run')).toMatchObject({ OCTODB_MAILGUN_DOMAIN: 'mg.example.com', OCTODB_MAILGUN_API_KEY_SECRET_ARN: MAILGUN_ARN });
    const roles = statementsByRole(s.resources);
    for (const name of Object.keys(s.stack.functions)) {
      const readsMailgun = (roles[functionRoleId(s, name)] ?? []).some(
        (x) => actionsOf(x).includes('secretsmanager:GetSecretValue') && JSON.stringify(x.Resource).includes(MAILGUN_ARN),
      );
      expect(readsMailgun, name).toBe(name === 'migrate-run');
      if (name !== 'migrate-run') expect(envOf(name).OCTODB_MAILGUN_API_KEY_SECRET_ARN).toBeUndefined();
    }
    expect(refsIn(envOf('migrate-run').OCTODB_MAILGUN_API_KEY_SECRET_ARN)).toEqual([]);
  });

  it('stays cdk-nag clean with the optional features switched', () => {
    const report = new AwsSolutionsChecks(s.app).validateScope(s.stack);
    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`)).toEqual([]);
  });
});

describe('bad context values', () => {
  const read = (context: Record<string, unknown>) => () => readSettings(new App({ context }).node);

  it.each([
    ['a body limit WAF cannot inspect', { maxBodyKb: 100 }, /maxBodyKb/],
    ['a negative authorizer TTL', { authorizerCacheTtlSeconds: -1 }, /authorizerCacheTtlSeconds/],
    ['an authorizer TTL above API Gateway’s hour', { authorizerCacheTtlSeconds: 3601 }, /authorizerCacheTtlSeconds/],
    ['no NAT gateway (the host could not install MySQL)', { natGateways: 0 }, /natGateways/],
    ['a malformed Skeema checksum', { skeemaSha256Arm64: 'abc' }, /skeemaSha256Arm64/],
    ['a Skeema version with shell characters', { skeemaVersion: '1.12.3;rm -rf /' }, /skeemaVersion/],
    ['an instance type with shell characters', { hostInstanceType: "t4g.small' ; echo" }, /hostInstanceType/],
    ['a non-email alarm address', { alarmEmail: 'not-an-email' }, /alarmEmail/],
    ['a CORS origin that is not a URL', { corsOrigins: '["*"]' }, /corsOrigins/],
    ['a CORS origin with a path (browsers send none)', { corsOrigins: '["https://app.example.com/"]' }, /corsOrigins/],
    ['a Mailgun domain without its key secret', { mailgunDomain: 'mg.example.com' }, /mailgunApiKeySecretArn/],
    ['email verification of signups without Mailgun to send the codes', { signupVerifyEmail: true }, /signupVerifyEmail needs Mailgun/],
    ['a Mailgun key given as a value instead of a secret ARN', { mailgunDomain: 'mg.example.com', mailgunApiKeySecretArn: 'key-123' }, /mailgunApiKeySecretArn/],
    ['a boolean that is not one', { waf: 'yes' }, /waf/],
    ['an AMI id with shell characters', { hostAmiId: 'ami-0123456789abcdef0;reboot' }, /hostAmiId/],
  ])('refuses %s', (_what, context, message) => {
    expect(read(context)).toThrow(message);
  });

  it('refuses a stack name that would push the M1 function name past Lambda’s 64 characters', () => {
    expect(read({ stackName: `O${'x'.repeat(52)}` })).toThrow(/stackName: at most 52 characters .*migrate-run.*64/);
  });

  it('accepts a stack name of 52 characters, giving M1 a name of exactly 64', () => {
    const name = `O${'x'.repeat(51)}`;
    const long = synth({ stackName: name });
    const m1 = long.resources[functionId(long, 'migrate-run')]!.Properties!.FunctionName as string;
    expect(m1).toBe(`${name}-migrate-run`);
    expect(m1).toHaveLength(64);
  });

  it('accepts an empty context with the documented defaults', () => {
    const settings = readSettings(new App().node);
    expect(settings).toMatchObject({
      stackName: 'OctoDb',
      authorizerCacheTtlSeconds: 0,
      waf: true,
      maxBodyKb: 64,
      natGateways: 1,
      migrateRunConcurrency: 2,
      apiGatewayCloudWatchRole: true,
    });
  });
});

describe('docs/deploy.md', () => {
  // The configuration table is kept in step with config.ts by test/unit/docs.test.ts.
  it('documents every cdk context key of lib/settings.ts', () => {
    const deploy = readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8');
    for (const key of Object.keys(stackSettings.shape)) expect(deploy, key).toContain(`\`${key}\``);
  });
});
