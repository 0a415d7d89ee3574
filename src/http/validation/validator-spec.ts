type Parameter = { in?: string; $ref?: string };

export type SpecDocument = {
  paths: Record<string, Record<string, unknown> & { parameters?: Parameter[] }>;
  components?: { parameters?: Record<string, Parameter>; schemas?: Record<string, { properties?: Record<string, { format?: string }> }> };
};

/**
 * The spec as the validator gets it: a copy, in which an operation that takes no query parameters ignores the query
 * string (a cache-buster on /health or the JWKS is not an error); one that takes some still refuses the ones it
 * does not know.
 */
export function validatorSpec(document: object): SpecDocument {
  const spec = structuredClone(document) as SpecDocument;
  const where = (parameter: Parameter) =>
    parameter.$ref ? spec.components?.parameters?.[parameter.$ref.split('/').pop()!]?.in : parameter.in;
  for (const item of Object.values(spec.paths)) {
    for (const operation of Object.values(item) as Array<{ operationId?: string; parameters?: Parameter[] } & Record<string, unknown>>) {
      if (!operation?.operationId) continue;
      const parameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])];
      if (!parameters.some((parameter) => where(parameter) === 'query')) operation['x-eov-allow-unknown-query-parameters'] = true;
    }
  }
  return spec;
}
