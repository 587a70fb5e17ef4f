import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  Cors,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  ResponseType,
  RestApi,
  TokenAuthorizer,
} from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

export interface Route {
  path: string;
  handler: IFunction;
  /** Behind the LF0 authorizer. */
  guarded: boolean;
}

export interface ApiProps {
  routes: Route[];
  authorizer: IFunction;
  authorizerCacheTtlSeconds: number;
  throttleRateLimit: number;
  throttleBurstLimit: number;
  /** Create the account-wide API Gateway CloudWatch role setting (one stack per account and region should). */
  cloudWatchRole: boolean;
  corsOrigins: string[];
  waf: boolean;
  wafRateLimit: number;
  maxBodyKb: number;
  logRetention: RetentionDays;
}

/**
 * The REST API (v1, as the local gateway imitates): one POST method per route, the LF0 TOKEN
 * authorizer on the guarded ones, stage throttling, JSON access logs, CORS only when origins are
 * configured, and AWS WAF for a per-IP rate limit and the request body size limit.
 *
 * CORS, when configured, covers every answer: preflights (OPTIONS), the handlers' responses
 * (lambdas/shared/http.ts, the caller's origin when listed), API Gateway's own 4xx/5xx (authorizer
 * denials, throttling, integration failures) and WAF's blocks. The last two are static, so they
 * name the first configured origin.
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
      defaultCorsPreflightOptions:
        props.corsOrigins.length > 0
          ? { allowOrigins: props.corsOrigins, allowMethods: ['POST', 'OPTIONS'], allowHeaders: ['Content-Type', 'Authorization'] }
          : undefined,
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

    const cors = corsResponseHeaders(props.corsOrigins);
    if (cors) {
      for (const [id, type] of [['Default4xx', ResponseType.DEFAULT_4XX], ['Default5xx', ResponseType.DEFAULT_5XX]] as const) {
        this.api.addGatewayResponse(id, {
          type,
          responseHeaders: Object.fromEntries(Object.entries(cors).map(([name, value]) => [name, `'${value}'`])),
        });
      }
    }

    const authorizer = new TokenAuthorizer(this, 'Lf0', {
      handler: props.authorizer,
      identitySource: 'method.request.header.Authorization',
      validationRegex: '^Bearer [A-Za-z0-9_.-]+$',
      resultsCacheTtl: Duration.seconds(props.authorizerCacheTtlSeconds),
    });

    for (const route of props.routes) {
      const method = this.api.root
        .addResource(route.path.replace(/^\//, ''))
        .addMethod('POST', new LambdaIntegration(route.handler), route.guarded
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
    const cors = corsResponseHeaders(props.corsOrigins);
    const responseHeaders = cors ? Object.entries(cors).map(([name, value]) => ({ name, value })) : undefined;
    const acl = new CfnWebACL(this, 'Firewall', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('octodb-api'),
      associationConfig:
        props.maxBodyKb > 16 ? { requestBody: { API_GATEWAY: { defaultSizeInspectionLimit: `KB_${props.maxBodyKb}` } } } : undefined,
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
          action: { block: { customResponse: { responseCode: 413, responseHeaders } } },
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

/** Headers of the answers the API itself gives (gateway responses, WAF blocks): static, so the first origin. */
function corsResponseHeaders(origins: string[]): Record<string, string> | undefined {
  return origins.length > 0 ? { 'Access-Control-Allow-Origin': origins[0]!, Vary: 'Origin' } : undefined;
}
