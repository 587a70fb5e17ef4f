import { spawnSync } from 'node:child_process';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { HOST_SCRIPT_TIMEOUT_SECONDS, hostScriptWaitSeconds } from '#core/host-script-timeout';
import { OPAQUE_ID } from '#core/patterns';
import { CONFIG_KEYS, type ConfigKey } from '#shared/config';
import { LOG_PIPELINE } from '#shared/log-pipeline';
import { LOG_TABLE_KEY_SCHEMA, LOG_TABLE_TTL_ATTRIBUTE } from '#shared/log-table';
import { OctoFunction, type OctoFunctionProps, PLATFORM_ENVIRONMENT } from '../../lib/octo-function.ts';
import { portalRoutes } from '../../lib/portal-build.ts';
import { tooLargeAnswer } from '../../lambdas/shared/http.ts';
import { AUTHORIZER_OUTAGE, GATEWAY_ROUTES, ROUTES } from '../../lambdas/shared/http-api.ts';
import { actionsOf, functionId, functionRoleId, refsIn, resourcesOf, type Statement, statementsByRole, synth, type Synthesized } from './support.ts';

const GUARDED = ['dashboard', 'migrate', 'query'];
const UNGUARDED = ['signup', 'token', 'verify'];
const FUNCTIONS = ['authorizer', 'signup', 'verify', 'token', 'provision', 'query', 'migrate-submit', 'migrate-run', 'dashboard', 'log-ingest', 'metadb-migrate', 'admin'];
/** Functions whose root (lambdas/adapters/roots.ts) reaches MetaDB. */
const DEPS_FUNCTIONS = ['authorizer', 'signup', 'verify', 'token', 'provision', 'query', 'migrate-submit', 'migrate-run', 'dashboard', 'admin'];
/** …of which these never reach Redis (test/integration/roots.test.ts shows their roots open none). */
const NO_REDIS = ['verify', 'provision'];

let s: Synthesized;
let roles: Record<string, Statement[]>;
const id = (construct: { node: { defaultChild?: unknown } }) => s.stack.getLogicalId(construct.node.defaultChild as never);
const ofTypeIn = (x: Synthesized, type: string) => Object.entries(x.resources).filter(([, r]) => r.Type === type);
const ofType = (type: string) => ofTypeIn(s, type);
const envOf = (name: string): Record<string, unknown> => s.resources[functionId(s, name)]!.Properties!.Environment?.Variables ?? {};
/** CDK's custom-resource Provider framework function: it invokes the MetaDB deployment and answers CloudFormation. */
function framework() {
  const found = ofType('AWS::Lambda::Function').filter(([, f]) => f.Properties!.Handler === 'framework.onEvent');
  expect(found).toHaveLength(1);
  const [fid, f] = found[0]!;
  return { id: fid, roleId: refsIn(f.Properties!.Role)[0]!, properties: f.Properties! };
}

beforeAll(() => {
  s = synth();
  roles = statementsByRole(s.resources);
});

/** "METHOD /full/path" → the method's properties (`/` for the root resource: the portal's page). */
function methodsByPath(): Record<string, Record<string, any>> {
  const resources = Object.fromEntries(ofType('AWS::ApiGateway::Resource').map(([rid, r]) => [rid, r.Properties!]));
  const pathOf = (rid: string | undefined): string => {
    const r = rid === undefined ? undefined : resources[rid];
    return r ? `${pathOf(r.ParentId.Ref).replace(/\/$/, '')}/${r.PathPart}` : '/';
  };
  const out: Record<string, Record<string, any>> = {};
  for (const [, m] of ofType('AWS::ApiGateway::Method')) out[`${m.Properties!.HttpMethod} ${pathOf(m.Properties!.ResourceId.Ref)}`] = m.Properties!;
  return out;
}

/** The web portal's files, as the stack serves them (the same build, made once per process). */
const PORTAL = portalRoutes().map((r) => `${r.method} ${r.path}`);

describe('REST API', () => {
  it('has exactly the six POST routes, each integrated with its own function, and GET /health', () => {
    const methods = methodsByPath();
    expect(Object.keys(methods).filter((m) => !PORTAL.includes(m)).sort()).toEqual(['GET /health', 'POST /dashboard', 'POST /migrate', 'POST /query', 'POST /signup', 'POST /token', 'POST /verify']);
    const target = { '/signup': 'signup', '/verify': 'verify', '/token': 'token', '/dashboard': 'dashboard', '/query': 'query', '/migrate': 'migrate-submit' };
    for (const [path, fn] of Object.entries(target)) {
      expect(refsIn(methods[`POST ${path}`]!.Integration.Uri)).toContain(functionId(s, fn));
    }
  });

  it('has exactly the routes of the API’s table (lambdas/shared/http-api.ts), each with its function, guarded as the table says', () => {
    const methods = methodsByPath();
    expect(Object.keys(methods).sort()).toEqual([...[...ROUTES, ...GATEWAY_ROUTES].map((r) => `${r.method} ${r.path}`), ...PORTAL].sort());
    for (const route of ROUTES) {
      const method = methods[`${route.method} ${route.path}`]!;
      expect(refsIn(method.Integration.Uri), route.path).toContain(functionId(s, route.fn));
      expect(method.AuthorizationType, route.path).toBe(route.guarded ? 'CUSTOM' : 'NONE');
    }
  });

  it('answers GET /health itself (MOCK): no authorizer, no function, exactly {"status":"ok"}, and WAF lets a GET through', () => {
    const health = methodsByPath()['GET /health']!;
    expect(health.AuthorizationType).toBe('NONE');
    expect(health.AuthorizerId).toBeUndefined();
    expect(health.Integration).toEqual({
      Type: 'MOCK',
      RequestTemplates: { 'application/json': '{"statusCode":200}' },
      IntegrationResponses: [
        {
          StatusCode: '200',
          ResponseParameters: { 'method.response.header.content-type': "'application/json'", 'method.response.header.cache-control': "'no-store'" },
          ResponseTemplates: { 'application/json': '{"status":"ok"}' },
        },
      ],
    });
    expect(health.MethodResponses).toEqual([
      { StatusCode: '200', ResponseParameters: { 'method.response.header.content-type': true, 'method.response.header.cache-control': true } },
    ]);
    // No function may be invoked by it: every Lambda permission API Gateway holds names a POST route.
    const apiPermissions = ofType('AWS::Lambda::Permission').filter(([, p]) => p.Properties!.Principal === 'apigateway.amazonaws.com');
    for (const [, p] of apiPermissions) expect(JSON.stringify(p.Properties!.SourceArn)).not.toMatch(/GET|health/);
    // WAF allows by default; its rules are a per-IP rate and a body size, which a GET (no body) never exceeds.
    const [[, acl]] = ofType('AWS::WAFv2::WebACL') as [[string, any]];
    expect(acl.Properties.DefaultAction).toEqual({ Allow: {} });
    expect(acl.Properties.Rules.map((r: any) => r.Name)).toEqual(['RateLimitPerIp', 'BodySizeLimit']);
  });

  it('serves the web portal from the stage itself: each file a MOCK answer of its text (base64 in the template), no authorizer, no function', () => {
    const methods = methodsByPath();
    expect(PORTAL).toEqual(expect.arrayContaining(['GET /', 'GET /index.html']));
    expect(PORTAL.filter((m) => m.startsWith('GET /assets/') && m.endsWith('.js'))).toHaveLength(1);
    for (const route of portalRoutes()) {
      const method = methods[`GET ${route.path}`]!;
      expect(method.AuthorizationType, route.path).toBe('NONE');
      expect(method.Integration.Type, route.path).toBe('MOCK');
      const [answer] = method.Integration.IntegrationResponses;
      const template: string = answer.ResponseTemplates['application/json'];
      const base64 = /^\$util\.base64Decode\("([A-Za-z0-9+/=]+)"\)$/.exec(template)?.[1];
      expect(Buffer.from(base64!, 'base64').toString('utf8'), route.path).toBe(route.answer.body);
      expect(answer.ResponseParameters['method.response.header.content-type'], route.path).toBe(`'${route.answer.headers['content-type']}'`);
    }
    expect(methods['GET /']!.Integration.IntegrationResponses[0].ResponseParameters['method.response.header.x-frame-options']).toBe("'DENY'");
    s.template.hasOutput('PortalUrl', {});
    // Off: no method but the API's own.
    const off = synth({ portal: 'false' });
    const offMethods = ofTypeIn(off, 'AWS::ApiGateway::Method').map(([, m]) => m.Properties!.HttpMethod as string);
    expect(offMethods.filter((m) => m === 'GET')).toHaveLength(GATEWAY_ROUTES.length);
    expect(off.template.toJSON().Outputs.PortalUrl).toBeUndefined();
  });

  it('puts the LF0 TOKEN authorizer on exactly the guarded routes and on none of the others', () => {
    const [[authorizerId, authorizer]] = ofType('AWS::ApiGateway::Authorizer') as [[string, any]];
    expect(authorizer.Properties).toMatchObject({ Type: 'TOKEN', IdentitySource: 'method.request.header.Authorization', AuthorizerResultTtlInSeconds: 0 });
    expect(refsIn(authorizer.Properties.AuthorizerUri)).toContain(functionId(s, 'authorizer'));
    const methods = methodsByPath();
    for (const path of GUARDED) {
      expect(methods[`POST /${path}`]).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: authorizerId } });
    }
    for (const path of UNGUARDED) {
      expect(methods[`POST /${path}`]!.AuthorizationType).toBe('NONE');
      expect(methods[`POST /${path}`]!.AuthorizerId).toBeUndefined();
    }
  });

  it('throttles the stage, writes JSON access logs and never logs request bodies', () => {
    s.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      MethodSettings: [
        Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100, DataTraceEnabled: false, LoggingLevel: 'ERROR' }),
      ],
    });
  });

  it('sets the account-wide API Gateway logging role and keeps it when the stack goes', () => {
    const [[, account]] = ofType('AWS::ApiGateway::Account') as [[string, any]];
    expect(account).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    const roleId = refsIn(account.Properties.CloudWatchRoleArn)[0]!;
    expect(s.resources[roleId]).toMatchObject({ Type: 'AWS::IAM::Role', DeletionPolicy: 'Retain' });
  });

  it('answers no CORS preflight and adds no CORS header when no origin is configured', () => {
    expect(ofType('AWS::ApiGateway::Method').filter(([, m]) => m.Properties!.HttpMethod === 'OPTIONS')).toHaveLength(0);
    const responses = ofType('AWS::ApiGateway::GatewayResponse').map(([, r]) => r.Properties as any);
    expect(responses.map((r) => r.ResponseType).sort()).toEqual(['AUTHORIZER_CONFIGURATION_ERROR', 'AUTHORIZER_FAILURE']);
    for (const r of responses) expect(Object.keys(r.ResponseParameters).filter((k) => /access-control/i.test(k))).toEqual([]);
    for (const name of FUNCTIONS) expect(envOf(name).OCTODB_CORS_ORIGINS, name).toBeUndefined();
  });

  it('answers a failed LF0 (MetaDB or Redis down) with 503, Retry-After and a JSON body, never 401 or 500', () => {
    for (const type of ['AUTHORIZER_FAILURE', 'AUTHORIZER_CONFIGURATION_ERROR']) {
      s.template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: type,
        StatusCode: '503',
        ResponseParameters: Match.objectLike({ 'gatewayresponse.header.retry-after': "'1'" }),
        ResponseTemplates: { 'application/json': AUTHORIZER_OUTAGE.body },
      });
    }
    expect(JSON.parse(AUTHORIZER_OUTAGE.body)).toMatchObject({ code: 'AUTH_UNAVAILABLE' });
  });

  it('has every API function refuse a body over the 64 KB limit itself, behind WAF too', () => {
    for (const name of ['signup', 'verify', 'token', 'dashboard', 'query', 'migrate-submit']) expect(envOf(name).OCTODB_MAX_BODY_BYTES, name).toBe('65536');
  });

  it('puts WAF in front of the stage with a per-IP rate limit and a 64 KB body limit, inspected in full', () => {
    const [[aclId, acl]] = ofType('AWS::WAFv2::WebACL') as [[string, any]];
    const rules = Object.fromEntries(acl.Properties.Rules.map((r: any) => [r.Name, r]));
    expect(rules.RateLimitPerIp.Statement.RateBasedStatement).toEqual({ Limit: 1000, AggregateKeyType: 'IP' });
    expect(rules.BodySizeLimit.Statement.SizeConstraintStatement).toMatchObject({
      ComparisonOperator: 'GT',
      Size: 64 * 1024,
      FieldToMatch: { Body: { OversizeHandling: 'MATCH' } },
    });
    expect(acl.Properties.AssociationConfig).toEqual({ RequestBody: { API_GATEWAY: { DefaultSizeInspectionLimit: 'KB_64' } } });
    // WAF's 413 has the body the functions (and the local gateway) answer a body over the cap with.
    expect(rules.BodySizeLimit.Action.Block.CustomResponse).toEqual({ ResponseCode: 413, CustomResponseBodyKey: 'BodyTooLarge' });
    const handlers413 = tooLargeAnswer({ corsOrigins: [], maxBodyBytes: 64 * 1024 }, undefined).body;
    expect(handlers413).toBe('{"error":"Request body must be at most 65536 bytes","limit_bytes":65536}');
    expect(acl.Properties.CustomResponseBodies).toEqual({ BodyTooLarge: { ContentType: 'APPLICATION_JSON', Content: handlers413 } });
    const [[, association]] = ofType('AWS::WAFv2::WebACLAssociation') as [[string, any]];
    expect(refsIn(association.Properties.WebACLArn)).toEqual([aclId]);
    expect(refsIn(association.Properties.ResourceArn)).toContain(id(s.stack.api.api.deploymentStage));
  });
});

describe('signup guard', () => {
  it('runs bcrypt on the request thread of the signup and token functions (one request per instance) and caps the host at 5000 databases', () => {
    for (const name of ['signup', 'verify', 'token']) expect(envOf(name).OCTODB_PASSWORD_WORKERS, name).toBe('0');
    for (const name of ['signup', 'verify']) {
      expect(envOf(name), name).toMatchObject({ OCTODB_HOST_MAX_DATABASES: '5000', OCTODB_SIGNUP_VERIFY_EMAIL: 'false' });
    }
    expect(envOf('signup').OCTODB_MAILGUN_DOMAIN).toBeUndefined();
  });

  it('with signupVerifyEmail, mails the codes from signup through Mailgun, and only signup and verify know', () => {
    const mailgun = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:octodb/mailgun-AbCdEf';
    const on = synth({ signupVerifyEmail: 'true', hostMaxDatabases: '800', mailgunDomain: 'mg.example.com', mailgunApiKeySecretArn: mailgun });
    const env = (name: string): Record<string, unknown> => on.resources[functionId(on, name)]!.Properties!.Environment?.Variables ?? {};
    expect(env('signup')).toMatchObject({ OCTODB_SIGNUP_VERIFY_EMAIL: 'true', OCTODB_HOST_MAX_DATABASES: '800', OCTODB_MAILGUN_DOMAIN: 'mg.example.com', OCTODB_MAILGUN_API_KEY_SECRET_ARN: mailgun });
    expect(env('verify')).toMatchObject({ OCTODB_SIGNUP_VERIFY_EMAIL: 'true', OCTODB_HOST_MAX_DATABASES: '800' });
    expect(env('verify').OCTODB_MAILGUN_API_KEY_SECRET_ARN).toBeUndefined(); // it sends nothing
    const readsMailgun = statementsByRole(on.resources)[functionRoleId(on, 'signup')]!.some(
      (x) => actionsOf(x).includes('secretsmanager:GetSecretValue') && JSON.stringify(x.Resource).includes('octodb/mailgun'),
    );
    expect(readsMailgun).toBe(true);
  });
});

describe('functions', () => {
  it('bundles one Node 22 arm64 function per handler, each with its own log group retention', () => {
    expect(Object.keys(s.stack.functions).sort()).toEqual([...FUNCTIONS].sort());
    // Besides them, only CDK's deploy-time providers: the one that empties the VPC's default security
    // group, the custom-resource framework that answers CloudFormation for the MetaDB deployment, and
    // AwsCustomResource's function that turns on the host's termination protection (no description).
    const others = ofType('AWS::Lambda::Function').filter(([fid]) => !FUNCTIONS.some((n) => functionId(s, n) === fid));
    expect(others.map(([, f]) => f.Properties!.Description ?? f.Properties!.Handler).sort()).toEqual([
      'AWS CDK resource provider framework - onEvent (OctoDb/MetaDbDeployment/Provider)',
      'Lambda function for removing all inbound/outbound rules from the VPC default security group',
      'index.handler',
    ]);
    for (const name of FUNCTIONS) {
      const fn = s.resources[functionId(s, name)]!.Properties!;
      expect(fn, name).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler' });
      const logGroup = s.resources[fn.LoggingConfig.LogGroup.Ref]!;
      expect(logGroup.Properties!.RetentionInDays).toBe(30);
    }
  });

  it('gives LF6 and M1 the longest timeout and reserves concurrency for M1 only', () => {
    for (const name of ['provision', 'migrate-run', 'admin']) expect(s.resources[functionId(s, name)]!.Properties!.Timeout).toBe(900);
    for (const name of FUNCTIONS) {
      const reserved = s.resources[functionId(s, name)]!.Properties!.ReservedConcurrentExecutions;
      expect(reserved, name).toBe(name === 'migrate-run' ? 2 : undefined);
    }
  });

  it('gives LF6, M1 and the admin function the shared host script limit, and every host script runner a timeout that outlives its wait', () => {
    for (const name of ['provision', 'migrate-run', 'admin']) expect(envOf(name).OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS, name).toBe(String(HOST_SCRIPT_TIMEOUT_SECONDS));
    const runners = FUNCTIONS.filter((name) => envOf(name).OCTODB_HOST_RUNNER === 'ssm');
    expect(runners.sort()).toEqual(['admin', 'metadb-migrate', 'migrate-run', 'provision']);
    for (const name of runners) {
      const wait = hostScriptWaitSeconds(Number(envOf(name).OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS));
      expect(s.resources[functionId(s, name)]!.Properties!.Timeout, name).toBeGreaterThan(wait);
    }
  });

  it('refuses to synthesize a host script runner that Lambda would stop while it waits for a script', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Short');
    const props: OctoFunctionProps = { name: 'provision', description: 'too short', memoryMb: 128, logRetention: RetentionDays.ONE_DAY, timeout: Duration.seconds(hostScriptWaitSeconds(60)) };
    expect(() => new OctoFunction(stack, 'Short', props).bindHostRunner(['i-0123456789abcdef0'], 60)).toThrow(/longer than the function's timeout/);
    expect(() => new OctoFunction(stack, 'Enough', { ...props, timeout: Duration.seconds(hostScriptWaitSeconds(60) + 1) }).bindHostRunner(['i-0123456789abcdef0'], 60)).not.toThrow();
  });

  it.each([
    ['authorizer', 512, 10],
    ['signup', 1024, 20], // bcrypt is CPU-bound, and Lambda's CPU grows with memory
    ['verify', 512, 20],
    ['token', 1024, 20],
    ['query', 512, 20],
    ['migrate-submit', 512, 20],
    ['dashboard', 512, 20],
    ['provision', 512, 900],
    ['migrate-run', 512, 900],
    ['admin', 1024, 900],
    ['log-ingest', 256, LOG_PIPELINE.ingestTimeoutSeconds],
    ['metadb-migrate', 256, 840], // under the Provider framework's 15 minutes, so the framework can still answer FAILED
  ])('sizes %s at %i MB with a %i s timeout', (name, memory, timeout) => {
    expect(s.resources[functionId(s, name)]!.Properties).toMatchObject({ MemorySize: memory, Timeout: timeout });
  });

  it('puts every function that reaches MySQL or Redis in the private subnets with the functions security group', () => {
    const privateSubnets = s.stack.network.vpc.privateSubnets.map((x) => ({ Ref: s.stack.getLogicalId(x.node.defaultChild as never) }));
    expect(privateSubnets).toHaveLength(2);
    for (const name of [...DEPS_FUNCTIONS, 'metadb-migrate']) {
      const vpc = s.resources[functionId(s, name)]!.Properties!.VpcConfig;
      expect(vpc, name).toEqual({ SubnetIds: privateSubnets, SecurityGroupIds: [{ 'Fn::GetAtt': [id(s.stack.network.functionsSg), 'GroupId'] }] });
    }
    // L1 talks to DynamoDB only: outside the VPC, no network interfaces to wait for.
    expect(s.resources[functionId(s, 'log-ingest')]!.Properties!.VpcConfig).toBeUndefined();
  });

  it('retries async LF6 and M1 events twice within an hour, then sends them to an alarmed failure queue', () => {
    for (const name of ['provision', 'migrate-run']) {
      s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: functionId(s, name) },
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 3600,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [id(s.stack.asyncFailures), 'Arn'] } } },
      });
    }
  });

  it('uses only environment variables declared in lambdas/shared/config.ts, besides Node and Powertools own', () => {
    const declared = new Set<string>([...CONFIG_KEYS, ...Object.keys(PLATFORM_ENVIRONMENT)]);
    expect(CONFIG_KEYS.length).toBeGreaterThan(20);
    for (const [fid, fn] of ofType('AWS::Lambda::Function').filter(([fid]) => FUNCTIONS.some((n) => functionId(s, n) === fid))) {
      for (const key of Object.keys(fn.Properties!.Environment?.Variables ?? {})) expect(declared, `${fid}: ${key}`).toContain(key);
    }
    for (const key of Object.keys(PLATFORM_ENVIRONMENT)) expect(key.startsWith('OCTODB_'), key).toBe(false);
    // The construct takes only config names: a typo in lib/ is a compile error (checked by tsc).
    expectTypeOf<Parameters<OctoFunction['addEnvironment']>[0]>().toEqualTypeOf<ConfigKey>();
    expectTypeOf<keyof NonNullable<OctoFunctionProps['environment']>>().toEqualTypeOf<ConfigKey>();
  });

  it('tells every function it runs on Lambda (read-only files: emails without Mailgun go to the log)', () => {
    for (const name of FUNCTIONS) expect(envOf(name).OCTODB_RUNTIME, name).toBe('lambda');
  });

  it('runs host scripts through SSM and async invokes through Lambda, with the function names as JSON', () => {
    for (const name of ['provision', 'migrate-run', 'metadb-migrate', 'admin']) expect(envOf(name).OCTODB_HOST_RUNNER).toBe('ssm');
    const names = (fn: string) => JSON.stringify(envOf(fn).OCTODB_FUNCTION_NAMES);
    expect(names('signup')).toContain(`"provision\\":\\"",{"Ref":"${functionId(s, 'provision')}"}`);
    expect(names('migrate-submit')).toContain(`"migrate-run\\":\\"",{"Ref":"${functionId(s, 'migrate-run')}"}`);
    expect(names('signup')).not.toContain('migrate-run');
  });

  it('points signup and provision at the templates bundled next to the handler', () => {
    for (const name of ['signup', 'provision']) expect(envOf(name).OCTODB_TEMPLATES_DIR).toBe('/var/task/templates');
  });

  it('connects to MySQL by the private host name without credentials in the URL, TLS to Redis', () => {
    for (const name of DEPS_FUNCTIONS) {
      expect(envOf(name).OCTODB_MYSQL_URL).toBe('mysql://mysql.octodb.internal:3306/octodb_meta');
      if (NO_REDIS.includes(name)) expect(envOf(name).OCTODB_REDIS_URL, name).toBeUndefined();
      else expect(JSON.stringify(envOf(name).OCTODB_REDIS_URL)).toContain('rediss://');
    }
  });
});

describe('IAM: least privilege', () => {
  const statementsWith = (action: string) =>
    Object.entries(roles).flatMap(([role, st]) => st.filter((x) => actionsOf(x).includes(action)).map((x) => ({ role, x })));

  it('has no wildcard action and no Deny-less "*" action anywhere', () => {
    for (const [role, st] of Object.entries(roles)) {
      for (const x of st) for (const a of actionsOf(x)) expect(a, `${role}: ${a}`).not.toContain('*');
    }
  });

  it('lets only LF6, M1 and the MetaDB deployment send SSM commands, only to the host and only AWS-RunShellScript', () => {
    const senders = statementsWith('ssm:SendCommand');
    expect(senders.map((x) => x.role).sort()).toEqual(['provision', 'migrate-run', 'metadb-migrate', 'admin'].map((n) => functionRoleId(s, n)).sort());
    const instanceId = id(s.stack.host.instance);
    for (const { x } of senders) {
      expect(actionsOf(x)).toEqual(['ssm:SendCommand']);
      const resources = resourcesOf(x).map((r) => JSON.stringify(r));
      expect(resources).toHaveLength(2);
      expect(resources.find((r) => r.includes(':instance/'))).toContain(`{"Ref":"${instanceId}"}`);
      expect(resources.find((r) => r.includes(':document/'))).toMatch(/::document\/AWS-RunShellScript"\]\]\}$/);
    }
  });

  it('allows lambda:InvokeFunction only from signup, verify and the dashboard (delete_account) on LF6, from M0 on M1, from M1 on itself, and from the custom-resource framework on the MetaDB deployment', () => {
    const m1Role = functionRoleId(s, 'migrate-run');
    const invokes = statementsWith('lambda:InvokeFunction');
    const grants = invokes
      .filter(({ role }) => role !== m1Role)
      .map(({ role, x }) => `${role} → ${[...new Set(refsIn(x.Resource))].join(',')}`)
      .sort();
    expect(grants).toEqual(
      [
        `${functionRoleId(s, 'signup')} → ${functionId(s, 'provision')}`,
        `${functionRoleId(s, 'verify')} → ${functionId(s, 'provision')}`,
        `${functionRoleId(s, 'dashboard')} → ${functionId(s, 'provision')}`,
        `${functionRoleId(s, 'migrate-submit')} → ${functionId(s, 'migrate-run')}`,
        `${framework().roleId} → ${functionId(s, 'metadb-migrate')}`,
      ].sort(),
    );
    // M1 continues cascades and sweeps in fresh invocations of itself, named explicitly.
    const m1Name = s.resources[functionId(s, 'migrate-run')]!.Properties!.FunctionName as string;
    expect(m1Name).toBe(`${s.stack.stackName}-migrate-run`);
    const self = invokes.filter(({ role }) => role === m1Role);
    expect(self).toHaveLength(1);
    expect(JSON.stringify(self[0]!.x.Resource)).toMatch(new RegExp(`:function:${m1Name}"`));
    expect(JSON.parse(String(envOf('migrate-run').OCTODB_FUNCTION_NAMES))).toEqual({ 'migrate-run': m1Name });
  });

  it('runs the migration and provisioning sweeps every minute', () => {
    const rules = ofType('AWS::Events::Rule').map(([, r]) => r.Properties!);
    const sweepOf = (fn: string) =>
      expect.objectContaining({
        ScheduleExpression: 'rate(1 minute)',
        Targets: [expect.objectContaining({ Arn: { 'Fn::GetAtt': [functionId(s, fn), 'Arn'] }, Input: '{"sweep":true}' })],
      });
    expect(rules).toHaveLength(2);
    expect(rules).toEqual(expect.arrayContaining([sweepOf('migrate-run'), sweepOf('provision')]));
  });

  it('grants DynamoDB only on log_table: reads to the dashboard, writes to L1, a partition\'s erasure to LF6 and admin', () => {
    const table = id(s.stack.logging.table);
    const dynamo = Object.entries(roles).flatMap(([role, st]) =>
      st.filter((x) => actionsOf(x).some((a) => a.startsWith('dynamodb:'))).map((x) => ({ role, x })),
    );
    const erasers = [functionRoleId(s, 'provision'), functionRoleId(s, 'admin')];
    expect([...new Set(dynamo.map((d) => d.role))].sort()).toEqual([functionRoleId(s, 'dashboard'), functionRoleId(s, 'log-ingest'), ...erasers].sort());
    for (const { role, x } of dynamo) {
      expect(refsIn(x.Resource)).toEqual([table]);
      const writes = actionsOf(x).filter((a) => /Put|Update|Delete|Write/.test(a));
      if (role === functionRoleId(s, 'dashboard')) expect(writes).toEqual([]);
      if (erasers.includes(role)) expect(actionsOf(x).sort()).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:Query']);
    }
  });

  it('lets each function read only the secrets its code reads', () => {
    const sec = s.stack.secrets;
    const [jwt, dataKey, mysql, api, apiKeys, redis] = [id(sec.jwt), id(sec.dataKey), id(sec.mysqlAdmin), id(sec.mysqlApi), id(sec.apiKeySecret), id(sec.redisAuth)];
    const expected: Record<string, string[]> = {
      authorizer: [jwt, api, apiKeys, redis],
      token: [jwt, dataKey, api, redis],
      signup: [api, redis],
      verify: [api],
      provision: [dataKey, mysql],
      query: [dataKey, api, redis],
      dashboard: [dataKey, api, apiKeys, redis],
      'migrate-submit': [api, redis],
      'migrate-run': [mysql, redis],
      'log-ingest': [],
      'metadb-migrate': [mysql, api], // creates the API account with its password and grants
      admin: [dataKey, mysql, redis],
    };
    for (const name of Object.keys(expected)) expected[name]!.sort();
    for (const name of FUNCTIONS) {
      const read = (roles[functionRoleId(s, name)] ?? [])
        .filter((x) => actionsOf(x).includes('secretsmanager:GetSecretValue'))
        .flatMap((x) => refsIn(x.Resource))
        .sort();
      expect(read, name).toEqual(expected[name]);
    }
    // The API key hashing key is named to exactly the two functions that read it.
    for (const name of FUNCTIONS) expect('OCTODB_API_KEY_SECRET_ARN' in envOf(name), name).toBe(name === 'authorizer' || name === 'dashboard');
    // The host reads only the MySQL admin secret (to create the account and ~/.my.cnf).
    const hostRole = s.stack.getLogicalId(s.stack.host.instance.role.node.defaultChild as never);
    const hostReads = roles[hostRole]!.filter((x) => actionsOf(x).includes('secretsmanager:GetSecretValue')).flatMap((x) => refsIn(x.Resource));
    expect(hostReads).toEqual([id(sec.mysqlAdmin)]);
  });

  it('gives the MySQL admin login only to the functions that create users, set passwords or run DDL', () => {
    const sec = s.stack.secrets;
    const readers = (secret: string) =>
      FUNCTIONS.filter((name) =>
        (roles[functionRoleId(s, name)] ?? []).some((x) => actionsOf(x).includes('secretsmanager:GetSecretValue') && refsIn(x.Resource).includes(secret)),
      ).sort();
    expect(readers(id(sec.mysqlAdmin))).toEqual(['admin', 'metadb-migrate', 'migrate-run', 'provision']);
    expect(readers(id(sec.mysqlApi))).toEqual(['authorizer', 'dashboard', 'metadb-migrate', 'migrate-submit', 'query', 'signup', 'token', 'verify']);
    // The env says the same: an API function has no admin secret to fall back on.
    for (const name of ['authorizer', 'signup', 'verify', 'token', 'query', 'dashboard', 'migrate-submit']) {
      expect(envOf(name).OCTODB_MYSQL_SECRET_ARN, name).toBeUndefined();
      expect(refsIn(envOf(name).OCTODB_MYSQL_API_SECRET_ARN), name).toEqual([id(sec.mysqlApi)]);
    }
    for (const name of ['provision', 'migrate-run', 'admin']) expect(envOf(name).OCTODB_MYSQL_API_SECRET_ARN, name).toBeUndefined();
    // The MetaDB deployment re-runs (and creates the account) whenever the API secret changes.
    const metadb = ofType('Custom::OctoDbMetaDb')[0]?.[1];
    expect(refsIn(metadb?.Properties?.ApiSecretArn)).toEqual([id(sec.mysqlApi)]);
  });
});

describe('network and data stores', () => {
  it('opens MySQL and Redis only to the functions security group, and nothing to an address range', () => {
    const net = s.stack.network;
    const ingress = ofType('AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties!);
    expect(ingress).toHaveLength(2);
    const byTarget = Object.fromEntries(ingress.map((r) => [r.GroupId['Fn::GetAtt'][0], r]));
    expect(byTarget[id(net.mysqlSg)]).toMatchObject({ FromPort: 3306, ToPort: 3306, SourceSecurityGroupId: { 'Fn::GetAtt': [id(net.functionsSg), 'GroupId'] } });
    expect(byTarget[id(net.redisSg)]).toMatchObject({ FromPort: 6380, SourceSecurityGroupId: { 'Fn::GetAtt': [id(net.functionsSg), 'GroupId'] } });
    for (const [, sg] of ofType('AWS::EC2::SecurityGroup')) expect(sg.Properties!.SecurityGroupIngress ?? []).toEqual([]);
  });

  it('empties the VPC default security group (cdk.json feature flag), with a role that can touch nothing else', () => {
    const [[, restrict]] = ofType('Custom::VpcRestrictDefaultSG') as [[string, any]];
    expect(restrict.Properties.DefaultSecurityGroupId).toEqual({ 'Fn::GetAtt': [id(s.stack.network.vpc), 'DefaultSecurityGroup'] });
    const providerId = restrict.Properties.ServiceToken['Fn::GetAtt'][0] as string;
    const roleId = s.resources[providerId]!.Properties!.Role['Fn::GetAtt'][0] as string;
    const statements = roles[roleId]!;
    expect(statements).toHaveLength(1);
    expect(actionsOf(statements[0]!).every((a) => /^ec2:(Authorize|Revoke)SecurityGroup(Ingress|Egress)$/.test(a))).toBe(true);
    expect(JSON.stringify(statements[0]!.Resource)).toContain(':security-group/",{"Fn::GetAtt":["' + id(s.stack.network.vpc) + '","DefaultSecurityGroup"]}');
  });

  it('keeps the MySQL host private: no public IP, no key pair, IMDSv2, encrypted gp3 root, private subnet', () => {
    const instance = s.resources[id(s.stack.host.instance)]!;
    const p = instance.Properties!;
    expect(p.KeyName).toBeUndefined();
    expect(p.NetworkInterfaces).toHaveLength(1);
    expect(p.NetworkInterfaces[0]).toMatchObject({ AssociatePublicIpAddress: false, GroupSet: [{ 'Fn::GetAtt': [id(s.stack.network.mysqlSg), 'GroupId'] }] });
    expect(p.BlockDeviceMappings).toHaveLength(1); // the root volume only: the data volume is its own resource
    expect(p.BlockDeviceMappings[0].Ebs).toMatchObject({ Encrypted: true, VolumeType: 'gp3', VolumeSize: 16, DeleteOnTermination: true });
    expect(p.DisableApiTermination).toBe(false); // turned on after the deploy: test/infra/first-deploy.test.ts
    const privateSubnets = s.stack.network.vpc.privateSubnets.map((x) => s.stack.getLogicalId(x.node.defaultChild as never));
    expect(privateSubnets).toContain(p.NetworkInterfaces[0].SubnetId.Ref);
    expect(p.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    expect(ofType('AWS::EC2::LaunchTemplate')).toHaveLength(0); // a fixed-name one would clash between stacks
    expect(instance.CreationPolicy.ResourceSignal.Timeout).toBe('PT30M');
  });

  it('installs MySQL from the GPG-checked MySQL repo and the pinned Skeema release after a checksum check', () => {
    const userData = JSON.stringify(s.resources[id(s.stack.host.instance)]!.Properties!.UserData);
    expect(userData).toContain('gpgcheck=1');
    expect(userData).toContain('baseurl=https://repo.mysql.com/yum/mysql-8.4-community/el/9/$basearch/');
    expect(userData).toContain('skeema_1.12.3_linux_arm64.tar.gz');
    expect(userData).toContain("echo '036b5afe43110db73db99c48e831ed83631d926f5bbf1b33ff9aada440753c45  /tmp/skeema.tgz' | sha256sum -c -");
    expect(userData).toContain(`--secret-id '",{"Ref":"${id(s.stack.secrets.mysqlAdmin)}"}`);
    expect(userData).toContain('/root/.my.cnf');
    expect(userData.indexOf('umask 077')).toBeGreaterThan(userData.indexOf('systemctl enable --now mysqld')); // mysqld must read its cnf
    expect(userData).toContain('cfn-signal');
  });

  it('renders a first-boot script bash accepts', () => {
    const parts = s.resources[id(s.stack.host.instance)]!.Properties!.UserData['Fn::Base64']['Fn::Join'][1] as unknown[];
    const script = parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
    const checked = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
    expect(checked.stderr).toBe('');
    expect(checked.status).toBe(0);
  });

  it('backs the data volume up daily with AWS Backup', () => {
    s.template.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: { BackupPlanRule: [Match.objectLike({ ScheduleExpression: 'cron(0 3 * * ? *)', Lifecycle: { DeleteAfterDays: 35 } })] },
    });
    const [[, selection]] = ofType('AWS::Backup::BackupSelection') as [[string, any]];
    const resources = selection.Properties.BackupSelection.Resources as unknown[];
    expect(resources).toHaveLength(1);
    expect(JSON.stringify(resources[0])).toMatch(/:volume\/"/);
    expect(refsIn(resources[0]).filter((r) => !r.startsWith('AWS::'))).toEqual([id(s.stack.host.dataVolume)]);
  });

  it('picks the host image when EC2 launches it, so a newly published AMI never replaces the host', () => {
    // A `AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>` parameter is re-read on every deploy: a new
    // AMI would change ImageId and CloudFormation would replace the instance. None may exist.
    const parameters = Object.values(s.template.toJSON().Parameters ?? {}) as { Type: string }[];
    expect(parameters.filter((x) => x.Type.includes('AWS::EC2::Image::Id'))).toEqual([]);
    const imageId = s.resources[id(s.stack.host.instance)]!.Properties!.ImageId;
    // A plain string: nothing in it CloudFormation resolves (no Ref, no {{resolve:…}} dynamic reference).
    expect(imageId).toBe('resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64');
  });

  it('keeps MySQL data on its own encrypted gp3 volume that outlives the instance and the stack', () => {
    const volumeId = id(s.stack.host.dataVolume);
    const volume = s.resources[volumeId]!;
    expect(volume).toMatchObject({ Type: 'AWS::EC2::Volume', DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(volume.Properties).toMatchObject({ Encrypted: true, VolumeType: 'gp3', Size: 30 });
    const instance = s.resources[id(s.stack.host.instance)]!.Properties!;
    expect(volume.Properties!.AvailabilityZone).toEqual(instance.AvailabilityZone); // attachable only in its own AZ
    // The host attaches it itself: only this volume, only onto an instance carrying the grant tag.
    const hostRole = s.stack.getLogicalId(s.stack.host.instance.role.node.defaultChild as never);
    const attach = roles[hostRole]!.filter((x) => actionsOf(x).includes('ec2:AttachVolume'));
    expect(attach).toHaveLength(1);
    expect(actionsOf(attach[0]!)).toEqual(['ec2:AttachVolume']);
    expect(refsIn(attach[0]!.Resource).filter((r) => !r.startsWith('AWS::'))).toEqual([volumeId]);
    const [tagKey, tagValue] = Object.entries((attach[0] as any).Condition['ForAnyValue:StringEquals'])[0] as [string, string];
    const tagName = tagKey.replace('ec2:ResourceTag/', '');
    expect(instance.Tags).toContainEqual({ Key: tagName, Value: tagValue });
    expect(volume.Properties!.Tags).toContainEqual({ Key: tagName, Value: tagValue });
    expect(ofType('AWS::EC2::VolumeAttachment')).toHaveLength(0);
    // User data mounts it at MySQL's datadir before MySQL starts, and mysqld requires the mount.
    const userData = JSON.stringify(instance.UserData);
    expect(userData).toContain(`DATA_VOLUME='",{"Ref":"${volumeId}"}`);
    expect(userData).toContain('/var/lib/mysql xfs defaults,noatime,nofail');
    expect(userData).toContain('RequiresMountsFor=/var/lib/mysql');
    expect(userData.indexOf('mount /var/lib/mysql')).toBeLessThan(userData.indexOf('systemctl enable --now mysqld'));
  });

  it('deploys MetaDB through the custom resource once the host and its DNS record exist', () => {
    const [[, cr]] = ofType('Custom::OctoDbMetaDb') as [[string, any]];
    // CloudFormation talks to CDK's Provider framework, which invokes the MetaDB deployment (its onEvent handler).
    const fw = framework();
    expect(refsIn(cr.Properties.ServiceToken)).toEqual([fw.id]);
    expect(refsIn(fw.properties.Environment.Variables.USER_ON_EVENT_FUNCTION_ARN)).toEqual([functionId(s, 'metadb-migrate')]);
    expect(fw.properties.Timeout).toBe(900);
    expect(cr.Properties).toMatchObject({ HostId: 'mysql-1', InstanceId: { Ref: id(s.stack.host.instance) }, Endpoint: 'mysql.octodb.internal' });
    expect(cr.Properties.HostId).toMatch(OPAQUE_ID); // the host id shape MetaDB and log records take
    expect(cr.Properties.SchemaHash).toMatch(/^[0-9a-f]{16}$/);
    expect(cr.DependsOn).toContain(s.stack.getLogicalId(s.stack.host.record.node.defaultChild as never));
  });

  it('lets the custom-resource framework write its own logs and invoke the MetaDB deployment, nothing else, outside the VPC', () => {
    const fw = framework();
    expect(fw.properties.VpcConfig).toBeUndefined();
    const logGroup = refsIn(fw.properties.LoggingConfig.LogGroup);
    expect(s.resources[logGroup[0]!]!.Properties!.RetentionInDays).toBe(30);
    const migrator = functionId(s, 'metadb-migrate');
    const granted = roles[fw.roleId]!.map((x) => `${actionsOf(x).join(',')} → ${[...new Set(refsIn(x.Resource))].join(',')}`).sort();
    expect(granted).toEqual([`lambda:GetFunction → ${migrator}`, `lambda:InvokeFunction → ${migrator}`, `logs:CreateLogStream,logs:PutLogEvents → ${logGroup[0]}`]);
    expect(s.resources[fw.roleId]!.Properties!.ManagedPolicyArns).toBeUndefined();
    // The deployment's own role is unchanged by the framework: SSM to the host, its two secrets, no invoke.
    expect(roles[functionRoleId(s, 'metadb-migrate')]!.flatMap(actionsOf).filter((a) => a.startsWith('lambda:'))).toEqual([]);
  });

  it('switches the functions on the octodb_api login only after the custom resource has created that account', () => {
    const [[crId]] = ofType('Custom::OctoDbMetaDb') as [[string, unknown]];
    for (const name of ['authorizer', 'signup', 'verify', 'token', 'query', 'dashboard', 'migrate-submit']) {
      expect(envOf(name).OCTODB_MYSQL_API_SECRET_ARN).toBeDefined();
      expect([s.resources[functionId(s, name)]!.DependsOn].flat()).toContain(crId);
    }
    // The admin-login functions need no such order, and the custom resource's own function must not have it.
    for (const name of ['provision', 'migrate-run', 'admin', 'metadb-migrate']) {
      expect([s.resources[functionId(s, name)]!.DependsOn ?? []].flat()).not.toContain(crId);
    }
  });

  it('runs Redis in the private subnets with TLS and encryption at rest', () => {
    const p = s.resources[s.stack.getLogicalId(s.stack.cache.group)]!.Properties!;
    expect(p).toMatchObject({ TransitEncryptionEnabled: true, AtRestEncryptionEnabled: true, Port: 6380, SecurityGroupIds: [{ 'Fn::GetAtt': [id(s.stack.network.redisSg), 'GroupId'] }] });
  });

  it('requires Redis AUTH with a token Secrets Manager generates, set by reference and read by the functions at cold start', () => {
    const secretId = id(s.stack.secrets.redisAuth);
    // Only TLS connections, so the token never crosses the network in clear.
    const p = s.resources[s.stack.getLogicalId(s.stack.cache.group)]!.Properties!;
    expect(p).toMatchObject({ TransitEncryptionEnabled: true, TransitEncryptionMode: 'required' });
    // A dynamic reference CloudFormation resolves while it deploys: the value is in no template.
    expect(p.AuthToken).toEqual({ 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secretId }, ':SecretString:::}}']] });
    // What ElastiCache accepts as a token: 16 to 128 characters, none of @ " / (letters and digits here).
    const generated = s.resources[secretId]!.Properties!.GenerateSecretString;
    expect(generated).toMatchObject({ ExcludePunctuation: true });
    expect(generated.PasswordLength).toBeGreaterThanOrEqual(16);
    expect(generated.PasswordLength).toBeLessThanOrEqual(128);
    expect(generated.SecretStringTemplate).toBeUndefined(); // the whole string is the token
    for (const name of FUNCTIONS) {
      const env = envOf(name);
      const reaches = env.OCTODB_REDIS_URL !== undefined;
      expect(reaches, name).toBe(DEPS_FUNCTIONS.includes(name) && !NO_REDIS.includes(name));
      if (!reaches) {
        expect(env.OCTODB_REDIS_AUTH_SECRET_ARN, name).toBeUndefined();
        continue;
      }
      // The secret's ARN, never the token: no password in the URL, no dynamic reference in any setting.
      expect(env.OCTODB_REDIS_AUTH_SECRET_ARN, name).toEqual({ Ref: secretId });
      expect(JSON.stringify(env.OCTODB_REDIS_URL), name).not.toContain('@');
      expect(JSON.stringify(env), name).not.toContain('resolve:secretsmanager');
    }
  });

  it('feeds logs SQS → L1 (partial batch failures) → log_table, with the pipeline’s dead-letter queue and key layout', () => {
    const log = s.stack.logging;
    expect(s.resources[id(log.queue)]!.Properties).toMatchObject({
      VisibilityTimeout: LOG_PIPELINE.visibilityTimeoutSeconds,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [id(log.deadLetters), 'Arn'] }, maxReceiveCount: LOG_PIPELINE.maxReceiveCount },
    });
    // AWS's guidance for an SQS event source: a visibility timeout of at least 6 × the function's timeout.
    expect(LOG_PIPELINE.visibilityTimeoutSeconds).toBeGreaterThanOrEqual(6 * s.resources[functionId(s, 'log-ingest')]!.Properties!.Timeout);
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionId(s, 'log-ingest') },
      EventSourceArn: { 'Fn::GetAtt': [id(log.queue), 'Arn'] },
      BatchSize: LOG_PIPELINE.batchSize,
      MaximumBatchingWindowInSeconds: LOG_PIPELINE.maxBatchingWindowSeconds,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const table = s.resources[id(log.table)]!.Properties!;
    expect(table.KeySchema).toEqual(LOG_TABLE_KEY_SCHEMA.KeySchema);
    expect(table.AttributeDefinitions).toEqual(LOG_TABLE_KEY_SCHEMA.AttributeDefinitions);
    expect(table.GlobalSecondaryIndexes).toBeUndefined();
    // Rows expire: DynamoDB deletes items past the epoch seconds L1 writes in this attribute (OCTODB_LOG_RETENTION_DAYS, default unless set).
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: LOG_TABLE_TTL_ATTRIBUTE, Enabled: true });
    expect(envOf('log-ingest').OCTODB_LOG_RETENTION_DAYS).toBeUndefined();
    expect(table).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect(envOf('log-ingest').OCTODB_LOG_TABLE).toEqual({ Ref: id(log.table) });
  });

  it('lets CloudWatch use the alarm topic key only for alarms of this account and region', () => {
    const policy = s.resources[id(s.stack.alarms.key)]!.Properties!.KeyPolicy.Statement as any[];
    const services = policy.filter((x) => x.Principal?.Service);
    expect(services).toHaveLength(1);
    expect(services[0]).toMatchObject({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] });
    expect(services[0].Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    const sourceArn = JSON.stringify(services[0].Condition.ArnLike['aws:SourceArn']);
    expect(sourceArn).toContain('":cloudwatch:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":alarm:*"');
  });

  it('alarms to the SNS topic on dead letters, failed async events and every function error', () => {
    const topic = id(s.stack.alarms.topic);
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties!);
    for (const a of alarms) expect(a.AlarmActions).toEqual([{ Ref: topic }]);
    const dlq = alarms.find((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible' && refsIn(a.Dimensions).includes(id(s.stack.logging.deadLetters)));
    expect(dlq).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    const errorAlarms = alarms.filter((a) => a.MetricName === 'Errors').flatMap((a) => refsIn(a.Dimensions));
    expect(errorAlarms.sort()).toEqual(FUNCTIONS.map((n) => functionId(s, n)).sort());
  });
});

describe('secrets', () => {
  it('generates every secret at deploy time and puts none of their values in the template', () => {
    for (const [, secret] of ofType('AWS::SecretsManager::Secret')) {
      expect(secret.Properties!.SecretString).toBeUndefined();
      expect(secret.Properties!.GenerateSecretString).toBeDefined();
    }
    const text = JSON.stringify(s.template.toJSON());
    // vitest sets these keys in this process's env: a synth must never pick them up.
    for (const value of [process.env.OCTODB_JWT_SECRET, process.env.OCTODB_DATA_KEY]) {
      expect(value).toBeTruthy();
      expect(text).not.toContain(value);
    }
    for (const name of FUNCTIONS) {
      const env = envOf(name);
      for (const plain of ['OCTODB_JWT_SECRET', 'OCTODB_DATA_KEY', 'OCTODB_MAILGUN_API_KEY']) expect(env[plain], `${name}: ${plain}`).toBeUndefined();
      for (const [key, value] of Object.entries(env)) if (key.endsWith('_SECRET_ARN')) expect(refsIn(value), key).toHaveLength(1);
    }
  });
});

describe('cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions finding', () => {
    const report = new AwsSolutionsChecks(s.app).validateScope(s.stack);
    const findings = report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`);
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });
});
