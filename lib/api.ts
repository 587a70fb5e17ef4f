import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  type MethodResponse,
  MockIntegration,
  ResponseType,
  RestApi,
  TokenAuthorizer,
} from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import {
  type ApiFunction,
  AUTHORIZER_OUTAGE,
  bodyTooLarge,
  CORS_PREFLIGHT,
  GATEWAY_ROUTES,
  type GatewayAnswer,
  type GatewayRoute,
  gatewayCorsHeaders,
  ROUTES,
} from '../lambdas/shared/http-api.ts';

export interface ApiProps {
  /** The function behind each route of the API's table (lambdas/shared/http-api.ts). */
  handlers: Record<ApiFunction, IFunction>;
  authorizer: IFunction;
  authorizerCacheTtlSeconds: number;
  throttleRateLimit: number;
  throttleBurstLimit: number;
  /** Create the account-wide API Gateway CloudWatch role setting (one stack per account and region should). */
  cloudWatchRole: boolean;
  corsOrigins: string[];
  /** The web portal's files (lib/portal-build.ts), answered by the stage itself at `/` and their paths. */
  portal: readonly GatewayRoute[];
  waf: boolean;
  wafRateLimit: number;
  maxBodyKb: number;
  logRetention: RetentionDays;
}

/**
 * The REST API (v1, as the local gateway imitates): the routes of the API's table, the LF0 TOKEN
 * authorizer on the guarded ones, stage throttling, JSON access logs, CORS only when origins are
 * configured, and AWS WAF for a per-IP rate limit and the request body size limit.
 *
 * CORS, when configured, covers every answer: preflights (OPTIONS on each route), the handlers'
 * responses (lambdas/shared/http.ts, the caller's origin when listed), API Gateway's own 4xx/5xx
 * (authorizer denials, throttling, integration failures), its own routes (GET /health) and WAF's
 * blocks. The last three are static, so they name the first configured origin.
 */
export class Api extends Construct {
  readonly api: RestApi;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.api = new RestApi(this, 'RestApi', {
      description: 'OctoDB: multi-tenant MySQL as a service',
      endpointTypes: [EndpointType.REGIONAL],
      // Account-wide: kept when this stack goes, so other APIs of the region keep their logging.
      cloudWatchRole: props.cloudWatchRole,
      cloudWatchRoleRemovalPolicy: props.cloudWatchRole ? RemovalPolicy.RETAIN : undefined,
      deployOptions: {
        stageName: 'v1',
        throttlingRateLimit: props.throttleRateLimit,
        throttlingBurstLimit: props.throttleBurstLimit,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false, // bodies carry passwords and tokens: never log them
        metricsEnabled: true,
        tracingEnabled: false,
      },
    });
    if (props.cloudWatchRole) {
      Validations.of(this.api).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason: 'The role API Gateway (account-wide) uses to write execution logs; AWS maintains it for exactly that.',
      });
    }
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason: 'Every request body is validated in its handler with one zod schema per request shape (lambdas/shared/requests.ts), identically on AWS and locally.',
    });

    const cors = gatewayCorsHeaders(props.corsOrigins);
    if (props.corsOrigins.length > 0) {
      for (const [id, type] of [['Default4xx', ResponseType.DEFAULT_4XX], ['Default5xx', ResponseType.DEFAULT_5XX]] as const) {
        this.api.addGatewayResponse(id, {
          type,
          responseHeaders: Object.fromEntries(Object.entries(cors).map(([name, value]) => [name, `'${value}'`])),
        });
      }
    }

    // LF0 fails (no "Unauthorized") when MetaDB or Redis is out of reach: a 503 to retry, never a 401.
    for (const [id, type] of [['AuthorizerFailure', ResponseType.AUTHORIZER_FAILURE], ['AuthorizerConfigurationError', ResponseType.AUTHORIZER_CONFIGURATION_ERROR]] as const) {
      const headers = { ...AUTHORIZER_OUTAGE.headers, ...cors };
      delete headers['content-type']; // a template's content type is its key
      this.api.addGatewayResponse(id, {
        type,
        statusCode: String(AUTHORIZER_OUTAGE.statusCode),
        responseHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, `'${value}'`])),
        templates: { 'application/json': AUTHORIZER_OUTAGE.body },
      });
    }

    const authorizer = new TokenAuthorizer(this, 'Lf0', {
      handler: props.authorizer,
      identitySource: 'method.request.header.Authorization',
      validationRegex: '^Bearer [A-Za-z0-9_.-]+$',
      resultsCacheTtl: Duration.seconds(props.authorizerCacheTtlSeconds),
    });

    for (const route of ROUTES) {
      const method = this.api.root
        .resourceForPath(route.path)
        .addMethod(route.method, new LambdaIntegration(props.handlers[route.fn]), route.guarded
          ? { authorizer, authorizationType: AuthorizationType.CUSTOM }
          : { authorizationType: AuthorizationType.NONE });
      if (!route.guarded) {
        for (const ruleId of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
          Validations.of(method).acknowledge({
            id: ruleId,
            reason: `${route.path} is how a caller signs up or obtains a token, so it cannot require one; it checks credentials itself and WAF rate-limits it.`,
          });
        }
      } else {
        Validations.of(method).acknowledge({
          id: 'AwsSolutions-COG4',
          reason: 'Guarded by the LF0 Lambda TOKEN authorizer (OctoDB JWTs with immediate revocation), not Cognito.',
        });
      }
    }

    // Routes API Gateway answers itself: no function runs and no authorizer, so an anonymous caller costs almost nothing.
    for (const route of GATEWAY_ROUTES) {
      const { integration, methodResponse } = mockAnswer(route.answer, cors);
      const method = this.api.root
        .resourceForPath(route.path)
        .addMethod(route.method, integration, { authorizationType: AuthorizationType.NONE, methodResponses: [methodResponse] });
      for (const ruleId of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
        Validations.of(method).acknowledge({
          id: ruleId,
          reason: `${route.path} is for load balancers and the CLI, which hold no token: API Gateway answers it with a fixed body (no function runs) that names no version, host or count.`,
        });
      }
    }

    // The portal: a page of the API's own origin (no CORS, no bucket, no CDN, no function). A file
    // is its template's text, decoded from base64 so VTL never reads the code as directives.
    for (const route of props.portal) {
      const body = `$util.base64Decode("${Buffer.from(route.answer.body).toString('base64')}")`;
      const { integration, methodResponse } = mockAnswer({ ...route.answer, body }, cors);
      const method = this.api.root.resourceForPath(route.path).addMethod(route.method, integration, { authorizationType: AuthorizationType.NONE, methodResponses: [methodResponse] });
      for (const ruleId of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
        Validations.of(method).acknowledge({ id: ruleId, reason: `${route.path} is a file of the web portal, the page people sign in from: public, fixed, no function runs.` });
      }
    }

    // Preflights on the functions' routes only (none on the root, which serves nothing), as the local gateway answers them.
    if (props.corsOrigins.length > 0) {
      for (const path of new Set(ROUTES.map((route) => route.path))) {
        this.api.root.resourceForPath(path).addCorsPreflight({ allowOrigins: props.corsOrigins, ...CORS_PREFLIGHT });
      }
    }

    if (props.waf) this.addFirewall(props);
    else {
      Validations.of(this.api.deploymentStage).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason: 'WAF turned off by the waf context setting; stage throttling still applies.',
      });
    }
  }

  /** Blocks a source IP above the rate limit and any body larger than maxBodyKb (or not fully inspectable). */
  private addFirewall(props: ApiProps): void {
    const visibility = (name: string) => ({ cloudWatchMetricsEnabled: true, metricName: name, sampledRequestsEnabled: true });
    const cors = Object.entries(gatewayCorsHeaders(props.corsOrigins)).map(([name, value]) => ({ name, value }));
    const responseHeaders = cors.length > 0 ? cors : undefined;
    const tooLarge = bodyTooLarge(props.maxBodyKb * 1024); // the handlers' own 413 body, so WAF's block reads the same
    const acl = new CfnWebACL(this, 'Firewall', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('octodb-api'),
      associationConfig:
        props.maxBodyKb > 16 ? { requestBody: { API_GATEWAY: { defaultSizeInspectionLimit: `KB_${props.maxBodyKb}` } } } : undefined,
      customResponseBodies: { BodyTooLarge: { contentType: 'APPLICATION_JSON', content: JSON.stringify(tooLarge.toJSON()) } },
      rules: [
        {
          name: 'RateLimitPerIp',
          priority: 0,
          action: { block: responseHeaders ? { customResponse: { responseCode: 403, responseHeaders } } : {} },
          statement: { rateBasedStatement: { limit: props.wafRateLimit, aggregateKeyType: 'IP' } },
          visibilityConfig: visibility('octodb-rate-limit'),
        },
        {
          name: 'BodySizeLimit',
          priority: 1,
          action: { block: { customResponse: { responseCode: tooLarge.status, customResponseBodyKey: 'BodyTooLarge', responseHeaders } } },
          statement: {
            sizeConstraintStatement: {
              fieldToMatch: { body: { oversizeHandling: 'MATCH' } },
              comparisonOperator: 'GT',
              size: props.maxBodyKb * 1024,
              textTransformations: [{ priority: 0, type: 'NONE' }],
            },
          },
          visibilityConfig: visibility('octodb-body-size'),
        },
      ],
    });
    new CfnWebACLAssociation(this, 'FirewallAssociation', {
      resourceArn: this.api.deploymentStage.stageArn,
      webAclArn: acl.attrArn,
    });
  }

  get url(): string {
    return this.api.url;
  }
}

/**
 * A gateway route's fixed answer as a MOCK integration and its method response: the table's status,
 * headers and body, plus (CORS on) the CORS headers of API Gateway's other own answers. All static:
 * no template logic, and the body passes through its template unchanged.
 */
function mockAnswer(answer: GatewayAnswer, cors: Record<string, string>): { integration: MockIntegration; methodResponse: MethodResponse } {
  const statusCode = String(answer.statusCode);
  const headers = Object.entries({ ...answer.headers, ...cors }).map(([name, value]) => [`method.response.header.${name}`, value] as const);
  return {
    integration: new MockIntegration({
      requestTemplates: { 'application/json': JSON.stringify({ statusCode: answer.statusCode }) },
      integrationResponses: [
        {
          statusCode,
          responseParameters: Object.fromEntries(headers.map(([param, value]) => [param, `'${value}'`])),
          responseTemplates: { 'application/json': answer.body },
        },
      ],
    }),
    methodResponse: { statusCode, responseParameters: Object.fromEntries(headers.map(([param]) => [param, true])) },
  };
}
