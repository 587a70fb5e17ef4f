import type { APIGatewayAuthorizerResult, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import { UnauthorizedError } from '#core/errors';
import { verifyAccessToken } from '#core/tokens';
import { authorizerRoot } from '#adapters/roots';
import { invocationHandler, logger } from '#shared/logger';

/**
 * LF0 — TOKEN authorizer for /dashboard, /query and /migrate. A valid, current token yields an
 * Allow policy whose context (tenant_id, db_id, is_admin) API Gateway injects into the request;
 * anything else throws "Unauthorized", which API Gateway answers with 401.
 */
export const handler = invocationHandler(authorize);

async function authorize(event: APIGatewayTokenAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const match = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(event.authorizationToken ?? '');
  if (!match) throw new Error('Unauthorized');
  try {
    const claims = await verifyAccessToken(match[1]!, await authorizerRoot());
    return {
      principalId: claims.tenant_id,
      policyDocument: {
        Version: '2012-10-17',
        // The whole API's methods, so a cached decision (when a TTL is configured) serves every route.
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: apiWildcard(event.methodArn) }],
      },
      context: { tenant_id: claims.tenant_id, db_id: claims.db_id, is_admin: String(claims.is_admin) },
    };
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) logger.error('authorizer failed', { error: error as Error });
    throw new Error('Unauthorized');
  }
}

/** arn:aws:execute-api:region:account:api/stage/METHOD/path → arn:…:api/stage/*\/* */
function apiWildcard(methodArn: string): string {
  const [prefix, stage] = methodArn.split('/');
  return `${prefix}/${stage}/*/*`;
}
