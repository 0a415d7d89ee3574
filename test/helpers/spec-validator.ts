import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { loadSpec } from '../../src/http/spec.js';

type Json = Record<string, any>;
const spec = loadSpec().document as Json;

const ajv = new Ajv({ strict: false, allErrors: true, discriminator: true });
addFormats.default(ajv);
ajv.addSchema({ ...spec, $id: 'spec' });

interface Route {
  method: string;
  pattern: RegExp;
  operation: Json;
}

const routes: Route[] = Object.entries(spec.paths as Json).flatMap(([path, item]) =>
  Object.entries(item as Json)
    .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
    .map(([method, operation]) => ({
      method: method.toUpperCase(),
      pattern: new RegExp(`^${path.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
      operation: operation as Json,
    })),
);

function deref(node: Json): Json {
  let current = node;
  while (current?.$ref) {
    current = (current.$ref as string)
      .slice(2)
      .split('/')
      .reduce((value: Json, key: string) => value[key.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
  }
  return current;
}

/**
 * Checks a response against the spec: the operation documents the status, the media type matches, and the body
 * validates against the schema. Returns the problems (empty when it conforms). Routes outside the API (docs, the
 * spec itself) are not checked.
 */
export function responseProblems(method: string, path: string, status: number, contentType: string | null, body: unknown): string[] {
  const route = routes.find((candidate) => candidate.method === method && candidate.pattern.test(path));
  if (!route) return [];
  const where = `${route.operation.operationId} ${status}`;
  const response = route.operation.responses?.[String(status)];
  if (!response) {
    // Failures of the request pipeline (unknown JSON, 405...) are documented where they can happen.
    return [`${where}: status ${status} is not documented`];
  }
  const documented = deref(response);
  if (!documented.content) return body === undefined || body === '' ? [] : [`${where}: documented without a body, got one`];
  const mediaType = (contentType ?? '').split(';')[0].trim();
  const content = documented.content[mediaType];
  if (!content) return [`${where}: media type ${mediaType || '(none)'} is not documented (${Object.keys(documented.content).join(', ')})`];
  const pointer = content.schema.$ref ? `spec${content.schema.$ref}` : undefined;
  const validate = pointer ? ajv.getSchema(pointer) ?? ajv.compile({ $ref: pointer }) : ajv.compile(content.schema);
  if (validate(body)) return [];
  return (validate.errors ?? []).map((error) => `${where}: body${error.instancePath} ${error.message}`);
}
