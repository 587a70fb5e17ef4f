import type { APIGatewayAuthorizerResult, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import { isApiKeyShaped, verifyApiKey } from '#core/api-keys';
import { UnauthorizedError } from '#core/errors';
import { verifyAccessToken } from '#core/tokens';
import { apiKeyAuthorizerRoot, authorizerRoot } from '#adapters/roots';
import { invocationHandler, type RequestLog } from '#shared/logger';

/**
 * LF0 — TOKEN authorizer for /dashboard, /query and /migrate. A valid, current token or API key
 * yields an Allow policy whose context (tenant_id, db_id, is_admin, and for a key key_id,
 * key_scope, key_db_bound; suspended for a suspended tenant's) API Gateway injects into the request; a token or key refused throws
 * "Unauthorized", which API Gateway answers with 401. Any other failure (MetaDB or Redis out of
 * reach) throws another error: API Gateway's AUTHORIZER_FAILURE, answered 503 + Retry-After
 * (AUTHORIZER_OUTAGE), so a valid token is never answered 401 and its client retries.
 */
export const handler = invocationHandler(authorize);

async function authorize(event: APIGatewayTokenAuthorizerEvent, log: RequestLog): Promise<APIGatewayAuthorizerResult> {
  const match = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(event.authorizationToken ?? '');
  if (!match) throw new Error('Unauthorized');
  const bearer = match[1]!;
  try {
    const context = isApiKeyShaped(bearer) ? await keyContext(bearer) : await tokenContext(bearer);
    return {
      principalId: context.tenant_id,
      policyDocument: {
        Version: '2012-10-17',
        // The whole API's methods, so a cached decision (when a TTL is configured) serves every route.
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: apiWildcard(event.methodArn) }],
      },
      context,
    };
  } catch (error) {
    if (error instanceof UnauthorizedError) throw new Error('Unauthorized');
    log.error('authorizer failed', { error: error as Error });
    throw new Error('Authorizer failed', { cause: error });
  }
}

async function tokenContext(token: string) {
  const claims = await verifyAccessToken(token, await authorizerRoot());
  return { tenant_id: claims.tenant_id, db_id: claims.db_id, is_admin: String(claims.is_admin), ...suspension(claims.suspended) };
}

/** A key never carries the tenant's admin rights: what it may do is its scope. */
async function keyContext(key: string) {
  const record = await verifyApiKey(key, await apiKeyAuthorizerRoot());
  return {
    tenant_id: record.tenantId,
    db_id: record.dbId,
    is_admin: 'false',
    key_id: record.keyId,
    key_scope: record.scope,
    key_db_bound: String(record.dbBound),
    ...suspension(record.tenantSuspended),
  };
}

/**
 * A suspended tenant's bearer is let through with `suspended` in the context, and the route's
 * handler answers 403 TENANT_SUSPENDED (callerOf): a Deny would be API Gateway's own bare 403, and
 * throwing would read as 401 (log in again) or as an outage.
 */
const suspension = (suspended: boolean) => (suspended ? { suspended: 'true' } : {});

/** arn:aws:execute-api:region:account:api/stage/METHOD/path → arn:…:api/stage/*\/* (one per route: kept). */
function apiWildcard(methodArn: string): string {
  let wildcard = wildcards.get(methodArn);
  if (wildcard === undefined) {
    const [prefix, stage] = methodArn.split('/');
    wildcard = `${prefix}/${stage}/*/*`;
    if (wildcards.size < MAX_WILDCARDS) wildcards.set(methodArn, wildcard);
  }
  return wildcard;
}
const wildcards = new Map<string, string>();
/** API Gateway names the API's own routes, a handful. */
const MAX_WILDCARDS = 100;
