import type { SpecDocument } from './validator-spec.js';

/**
 * Finds where a request carries U+0000 outside a password. PostgreSQL refuses it in text and SQLite cuts the
 * statement at it: without this check it becomes a 500 on whatever write or lookup it reaches. Body fields in
 * `format: password` are only hashed or compared, so any character is fine there.
 */
export function nulCharacterFinder(spec: SpecDocument): (input: { path: unknown; query: unknown; body: unknown }) => string[] {
  const keepsNul = passwordFields(spec);
  return (input) => [
    ...nulPointers(input.path, '/path', keepsNul),
    ...nulPointers(input.query, '/query', keepsNul),
    ...nulPointers(input.body, '/body', keepsNul),
  ];
}

/** Names of body fields in `format: password`. */
function passwordFields(spec: SpecDocument): Set<string> {
  const names = new Set<string>();
  for (const schema of Object.values(spec.components?.schemas ?? {})) {
    for (const [name, property] of Object.entries(schema.properties ?? {})) if (property.format === 'password') names.add(name);
  }
  return names;
}

function nulPointers(value: unknown, pointer: string, keepsNul: Set<string>): string[] {
  if (typeof value === 'string') return value.includes('\u0000') ? [pointer] : [];
  if (Array.isArray(value)) return value.flatMap((item, index) => nulPointers(item, `${pointer}/${index}`, keepsNul));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) =>
      key.includes('\u0000')
        ? [`${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`]
        : keepsNul.has(key) && pointer === '/body'
          ? []
          : nulPointers(item, `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, keepsNul),
    );
  }
  return [];
}
