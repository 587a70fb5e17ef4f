import { z } from 'zod';
import { type ApiFunction, GATEWAY_ROUTES, type GatewayAnswer, ROUTES } from './http-api.ts';
import { migrateRequest, queryRequest, signupRequest, tokenRequest, verifyRequest } from './requests.ts';
import { type ErrorAnswer, errorAnswers } from './error-answers.ts';
import * as answers from './responses.ts';

/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the route table (http-api.ts), the
 * request schemas (requests.ts, the /dashboard actions' parameters) and the answer schemas
 * (responses.ts) with zod's own z.toJSONSchema: nothing here restates a field. `npm run openapi`
 * writes it to docs/openapi.json (test/unit/openapi.test.ts fails when that file is stale) and the
 * local gateway serves it at GET /openapi.json. Only bin/ and tests import this module: no Lambda
 * bundle carries it (test/infra/bundling.test.ts checks).
 */

/** Where the local gateway serves the document (the deployed API does not: see docs/api.md). */
export const OPENAPI_PATH = '/openapi.json';

/** What a caller of one function's route sends and gets back, besides the answers every route shares. */
interface RouteDoc {
  summary: string;
  /** The body schema; /dashboard's is built from its actions. */
  request?: z.ZodType;
  success: { status: number; description: string; schema?: z.ZodType };
  /** A second success a request field chooses (/migrate's dry run): its own status and component name. */
  alsoSuccess?: { status: number; description: string; schema: z.ZodType; name: string };
  /** The errors this route answers besides those of every route (COMMON_ERRORS): status → body. */
  errors: Partial<Record<ErrorStatus, ErrorAnswer>>;
}

const ROUTE_DOCS: Record<ApiFunction, RouteDoc> = {
  signup: {
    summary: 'Register a tenant; its database is provisioned in the background',
    request: signupRequest,
    success: { status: 202, description: 'Accepted: provisioning (or, with email verification on, waiting for the code)', schema: answers.signupAnswer },
    errors: { 400: 'BadRequest', 409: 'Conflict', 503: 'Unavailable' },
  },
  verify: {
    summary: "Send back the emailed code: the signup's database is provisioned",
    request: verifyRequest,
    success: { status: 202, description: 'Accepted: provisioning', schema: answers.verifyAnswer },
    errors: { 400: 'BadRequest', 401: 'VerifyUnauthorized', 503: 'Unavailable' },
  },
  token: {
    summary: 'Email and password for a JWT (`read: true`: the current one)',
    request: tokenRequest,
    success: { status: 200, description: 'The token', schema: answers.tokenAnswer },
    errors: { 400: 'BadRequest', 401: 'Unauthorized', 403: 'TokenForbidden', 404: 'NotFound', 503: 'Unavailable' },
  },
  dashboard: {
    summary: "The tenant's console: one action per request (`action` picks it)",
    success: { status: 200, description: "The action's answer (`x-action-responses` names each action's schema)" },
    errors: { 400: 'DashboardBadRequest', 401: 'GatewayMessage', 403: 'DashboardForbidden', 404: 'NotFound', 409: 'DashboardConflict', 503: 'Unavailable' },
  },
  query: {
    summary: 'One SELECT/INSERT/UPDATE/DELETE in one of your databases, or a batch of them (`statements`), optionally in one transaction',
    request: queryRequest,
    success: { status: 200, description: 'The statement ran (a batch: each did, `results` in order)', schema: z.union([answers.queryAnswer, answers.queryBatchAnswer]) },
    errors: { 400: 'QueryBadRequest', 401: 'GatewayMessage', 403: 'QueryForbidden', 404: 'NotFound', 408: 'QueryTimeout', 409: 'QueryConflict', 503: 'QueryUnavailable' },
  },
  'migrate-submit': {
    summary: 'Declarative CREATE TABLE statements (and tables removed): one Skeema job per table, or with `dry_run` the plan',
    request: migrateRequest,
    success: { status: 202, description: 'Queued: one job per table under `batch_id`', schema: answers.migrateAnswer },
    alsoSuccess: { status: 200, description: '`dry_run`: the plan per table; nothing applied', schema: answers.migratePlanAnswer, name: 'MigratePlanResponse' },
    errors: { 400: 'MigrateBadRequest', 401: 'GatewayMessage', 403: 'MigrateForbidden', 404: 'NotFound', 409: 'Conflict', 503: 'MigrateUnavailable' },
  },
};

/** The answer of each route the gateway answers itself. */
const GATEWAY_DOCS: Record<(typeof GATEWAY_ROUTES)[number]['path'], { summary: string; schema: z.ZodType }> = {
  '/health': { summary: 'Whether the API is up and routing (answered by the gateway: no function, no details)', schema: answers.healthAnswer },
};

type ErrorStatus = 400 | 401 | 403 | 404 | 408 | 409 | 413 | 429 | 500 | 502 | 503;
type ErrorBody = ErrorAnswer | ErrorAnswer[];

/** What every function's route may answer, whatever it does: the body cap, rate limits, failures. */
const COMMON_ERRORS: Partial<Record<ErrorStatus, ErrorBody>> = {
  413: 'TooLarge',
  429: ['RateLimited', 'GatewayMessage'],
  500: ['InternalError', 'GatewayMessage'],
  502: 'GatewayMessage',
};

/** When each error status is given, and whether it carries Retry-After. */
const ERROR_DOCS: Record<ErrorStatus, { description: string; retryAfter?: 'always' | 'described' }> = {
  400: { description: 'Bad input: not JSON, a bad or unknown field (`problems`), a statement MySQL or the validator refused' },
  401: { description: "Bad credentials or code; behind the authorizer: no token or API key, or one it refuses (API Gateway's `{\"message\": \"Unauthorized\"}`)" },
  403: { description: "Prohibited: a statement, the storage quota, an unverified email, an API key's scope" },
  404: { description: "Not found (someone else's database answers the same)" },
  408: { description: 'A statement (or a batch) ran past its time limit and was stopped on the server: told apart from bad SQL (400)' },
  409: { description: 'Conflict: the email is taken, or the database is not ready' },
  413: { description: 'Body over the cap (`OCTODB_MAX_BODY_BYTES`): refused before anything runs' },
  429: {
    description: "Over a rate limit. OctoDB's own answer (RATE_LIMITED) carries Retry-After; API Gateway's stage throttling on AWS answers `{\"message\": \"Too Many Requests\"}` without it",
    retryAfter: 'described',
  },
  500: { description: "Unexpected: the function's own answer names the request; the gateway's (an authorizer failure) is `{\"message\": null}`" },
  502: { description: "The function failed (API Gateway's answer)" },
  503: { description: 'Busy or a dependency unavailable: retry after Retry-After', retryAfter: 'always' },
};

const SHARED_PARTS: Record<string, z.ZodType> = {
  Problem: answers.problem,
  StatementVerdict: answers.statementVerdict,
  Storage: answers.storage,
  ResultColumn: answers.resultColumn,
  JobCounts: answers.jobCounts,
  BatchState: answers.batchState,
  Latency: answers.latency,
  LogItem: answers.logItem,
  JobStatus: answers.jobStatus,
  ...errorAnswers,
};

/** What the document needs of a /dashboard action: its parameters (lambdas/dashboard/actions.ts). */
export type DashboardParams = Record<string, { params: z.ZodType }>;

type JsonSchema = Record<string, unknown>;

const pascal = (name: string): string => name.replace(/(^|[_-])([a-z])/g, (_, _sep, c: string) => c.toUpperCase());
/** A route's components are named by its path: /migrate → MigrateRequest, MigrateResponse. */
const nameOf = (path: string): string => pascal(path.slice(1));
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema) => ({ 'application/json': { schema } });

/** Registered schemas as components: refs between them by name, no `$schema`/`$id` (the document's dialect is 2020-12). */
function componentsOf(schemas: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, { io, target: 'draft-2020-12', uri: (id) => ref(id).$ref, unrepresentable: 'throw' }).schemas;
  // Schemas used in several places without a name would land in __shared: give them one instead.
  if ('__shared' in out) throw new Error(`unnamed shared schemas: ${Object.keys(out.__shared ?? {}).join(', ')}`);
  return Object.fromEntries(Object.entries(out).map(([id, { $schema: _s, $id: _i, ...schema }]) => [id, schema as JsonSchema]));
}

/** The /dashboard actions as request variants (`action` a constant) and their answers, by component name. */
function dashboardParts(actions: DashboardParams): { requests: Record<string, z.ZodType>; responses: Record<string, z.ZodType>; names: string[] } {
  const requests: Record<string, z.ZodType> = {};
  const responses: Record<string, z.ZodType> = {};
  const answersOf: Record<string, z.ZodType | undefined> = answers.dashboardAnswers;
  for (const [name, { params }] of Object.entries(actions)) {
    if (!(params instanceof z.ZodObject)) throw new Error(`dashboard action ${name}: its parameters are no object schema`);
    const answer = answersOf[name];
    if (!answer) throw new Error(`dashboard action ${name} has no answer schema in lambdas/shared/responses.ts (dashboardAnswers)`);
    requests[`Dashboard${pascal(name)}Request`] = params.extend({ action: z.literal(name) });
    responses[`Dashboard${pascal(name)}Response`] = answer;
  }
  return { requests, responses, names: Object.keys(actions) };
}

const RETRY_AFTER = { description: 'Seconds to wait before retrying (whole, at least 1)', schema: { type: 'string', pattern: '^[1-9][0-9]*$' } };

function errorResponse(status: ErrorStatus, body: ErrorBody): OpenApiResponse {
  const doc = ERROR_DOCS[status];
  const schema = Array.isArray(body) ? { oneOf: body.map(ref) } : ref(body);
  const { retryAfter } = doc;
  return {
    description: doc.description,
    ...(retryAfter ? { headers: { 'Retry-After': { ...RETRY_AFTER, required: retryAfter === 'always' } } } : {}),
    content: json(schema),
  };
}

export interface OpenApiResponse {
  description: string;
  content?: Record<string, { schema: JsonSchema }>;
  headers?: Record<string, { required: boolean } & JsonSchema>;
  [extension: `x-${string}`]: unknown;
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  paths: Record<string, Record<string, { responses: Record<string, OpenApiResponse> } & JsonSchema>>;
  components: { schemas: Record<string, JsonSchema> } & JsonSchema;
  [key: string]: unknown;
}

/** The whole document; `dashboard` is the /dashboard action table (bin/openapi.ts passes it). */
export function openApiDocument(dashboard: DashboardParams, version: string): OpenApiDocument {
  const actions = dashboardParts(dashboard);
  const requests: Record<string, z.ZodType> = { ...actions.requests };
  const responses: Record<string, z.ZodType> = { ...SHARED_PARTS, ...actions.responses };
  for (const route of ROUTES) {
    const doc = ROUTE_DOCS[route.fn];
    if (doc.request) requests[`${nameOf(route.path)}Request`] = doc.request;
    if (doc.success.schema) responses[`${nameOf(route.path)}Response`] = doc.success.schema;
    if (doc.alsoSuccess) responses[doc.alsoSuccess.name] = doc.alsoSuccess.schema;
  }
  for (const route of GATEWAY_ROUTES) responses[`${nameOf(route.path)}Response`] = GATEWAY_DOCS[route.path].schema;

  const variants = actions.names.map((name) => ref(`Dashboard${pascal(name)}Request`));
  const schemas: Record<string, JsonSchema> = {
    ...componentsOf(requests, 'input'),
    DashboardRequest: {
      type: 'object',
      oneOf: variants,
      discriminator: { propertyName: 'action', mapping: Object.fromEntries(actions.names.map((name, i) => [name, variants[i]!.$ref])) },
    },
    ...componentsOf(responses, 'output'),
  };

  const paths: OpenApiDocument['paths'] = {};
  for (const route of ROUTES) {
    const doc = ROUTE_DOCS[route.fn];
    const success =
      route.fn === 'dashboard'
        ? {
            description: doc.success.description,
            content: json({ anyOf: actions.names.map((name) => ref(`Dashboard${pascal(name)}Response`)) }),
            'x-action-responses': Object.fromEntries(actions.names.map((name) => [name, ref(`Dashboard${pascal(name)}Response`)])),
          }
        : { description: doc.success.description, content: json(ref(`${nameOf(route.path)}Response`)) };
    paths[route.path] = {
      [route.method.toLowerCase()]: {
        operationId: route.path.slice(1),
        summary: doc.summary,
        security: route.guarded ? [{ bearer: [] }] : [],
        requestBody: { required: true, content: json(ref(`${nameOf(route.path)}Request`)) },
        responses: {
          [doc.success.status]: success,
          ...(doc.alsoSuccess ? { [doc.alsoSuccess.status]: { description: doc.alsoSuccess.description, content: json(ref(doc.alsoSuccess.name)) } } : {}),
          ...Object.fromEntries(
            Object.entries({ ...doc.errors, ...COMMON_ERRORS }).map(([status, body]) => [status, errorResponse(Number(status) as ErrorStatus, body)]),
          ),
        },
      },
    };
  }
  for (const route of GATEWAY_ROUTES) {
    paths[route.path] = {
      [route.method.toLowerCase()]: {
        operationId: route.path.slice(1),
        summary: GATEWAY_DOCS[route.path].summary,
        security: [],
        responses: { [route.answer.statusCode]: { description: 'Up', content: json(ref(`${nameOf(route.path)}Response`)) } },
      },
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'OctoDB API',
      version,
      description:
        'Multi-tenant MySQL as a service. Generated from the zod schemas in lambdas/shared (requests.ts, responses.ts) by `npm run openapi`; ' +
        'docs/api.md explains each route. Every body is JSON. The local gateway (`npm start`) also serves this document at GET /openapi.json.',
    },
    servers: [
      { url: 'http://127.0.0.1:3000', description: '`npm start`' },
      {
        url: 'https://{api_id}.execute-api.{region}.amazonaws.com/v1',
        description: 'Deployed with `cdk deploy` (the stack prints the URL)',
        variables: { api_id: { default: 'example' }, region: { default: 'us-east-1' } },
      },
    ],
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The token from POST /token (a JWT), or an API key (`octo_…`, /dashboard create_api_key) limited to its scope' } },
    },
  };
}

/** The document as `npm run openapi` writes it and the local gateway serves it. */
export const renderOpenApi = (document: OpenApiDocument): string => `${JSON.stringify(document, null, 2)}\n`;

/** GET /openapi.json on the local gateway: a fixed answer, as /health is. */
export function openApiRoute(document: OpenApiDocument): { method: 'GET'; path: string; answer: GatewayAnswer } {
  return {
    method: 'GET',
    path: OPENAPI_PATH,
    answer: { statusCode: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' }, body: renderOpenApi(document) },
  };
}
