import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export const SPEC_PATH = new URL('../../openapi/openapi.yaml', import.meta.url);

/** The contract, read once: the YAML as written, and the parsed document. */
export function loadSpec() {
  const yaml = readFileSync(SPEC_PATH, 'utf8');
  const document = parse(yaml) as Record<string, unknown> & { paths: Record<string, never> };
  return { yaml, document, json: JSON.stringify(document) };
}

export type LoadedSpec = ReturnType<typeof loadSpec>;
