import Ajv2020, { type ErrorObject } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { OpenApiDocument } from '#shared/openapi';
import { apiDocument } from '../../bin/openapi.ts';

const DOCUMENT_ID = 'openapi.json';
/** A JSON Pointer segment (RFC 6901). */
const segment = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Validates bodies against the schemas an OpenAPI document gives (JSON Schema 2020-12), resolving its `#/components/...` refs inside the document itself.
 */
export function openApiValidator(document: OpenApiDocument) {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  // The document's own fields are no JSON Schema keywords: known (and not checked) here. OpenAPI's
  // discriminator is a hint: each variant's `const` action already makes the oneOf pick exactly one
  // (Ajv's own discriminator support refuses a `mapping`, which OpenAPI tools need).
  ajv.addVocabulary(['openapi', 'info', 'servers', 'paths', 'components', 'discriminator', 'x-action-responses']);
  ajv.addSchema(document, DOCUMENT_ID);
  const at = (pointer: string) => {
    const validate = ajv.getSchema(`${DOCUMENT_ID}#${pointer}`);
    if (!validate) throw new Error(`no schema at ${pointer}`);
    return validate;
  };
  const check = (pointer: string, body: unknown): ErrorObject[] => {
    const validate = at(pointer);
    return validate(body) ? [] : [...(validate.errors ?? [])];
  };
  return {
    /** The problems of `body` as the answer of `method path` with `status` (the schema must exist). */
    response(method: string, path: string, status: number, body: unknown): ErrorObject[] {
      const response = document.paths[path]?.[method.toLowerCase()]?.responses[String(status)];
      if (!response?.content?.['application/json']) throw new Error(`the document gives no JSON answer for ${method} ${path} ${status}`);
      return check(`/paths/${segment(path)}/${method.toLowerCase()}/responses/${status}/content/application~1json/schema`, body);
    },
    /** The problems of `body` against one component schema. */
    component(name: string, body: unknown): ErrorObject[] {
      return check(`/components/schemas/${segment(name)}`, body);
    },
    /** The problems of `body` as the request body of `method path`. */
    request(method: string, path: string, body: unknown): ErrorObject[] {
      return check(`/paths/${segment(path)}/${method.toLowerCase()}/requestBody/content/application~1json/schema`, body);
    },
  };
}

let described: { document: OpenApiDocument; validator: ReturnType<typeof openApiValidator> } | undefined;

/**
 * Throws when an answer of a route the document describes is not as described: a status it does
 * not list, a body its schema refuses. The integration tests' `post` (test/support/octodb.ts)
 * calls it on every answer, so the document is checked against every answer the suite sees.
 */
export function assertDescribed(method: string, path: string, status: number, body: unknown): void {
  described ??= (() => {
    const document = apiDocument();
    return { document, validator: openApiValidator(document) };
  })();
  const operation = described.document.paths[path]?.[method.toLowerCase()];
  if (!operation) return; // a route that is not the API's (a test of unknown routes)
  if (!operation.responses[String(status)]) throw new Error(`docs/openapi.json lists no ${status} for ${method} ${path}: ${JSON.stringify(body).slice(0, 300)}`);
  const problems = described.validator.response(method, path, status, body);
  if (problems.length > 0) {
    const where = problems.map((p) => `${p.instancePath || '(body)'} ${p.message}${p.params && 'additionalProperty' in p.params ? `: ${p.params.additionalProperty}` : ''}`);
    throw new Error(`${method} ${path} ${status} is not as docs/openapi.json describes it (${where.join('; ')}): ${JSON.stringify(body).slice(0, 300)}`);
  }
}
