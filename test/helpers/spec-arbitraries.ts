import fc from 'fast-check';
import { loadSpec } from '../../src/http/spec.js';

/**
 * fast-check arbitraries built from openapi/openapi.yaml: for every operation, requests whose path parameters,
 * query and JSON body follow the spec's schemas (valid-shaped), and requests that break them on purpose. The
 * server must answer both without a 5xx and only with statuses the spec documents.
 */

type Json = Record<string, any>;
export type Schema = Json;

const spec = loadSpec().document as Json;

/** Resolves every `$ref` (the spec has no recursive schemas); `allOf` is left to the caller. */
export function deref<T = Json>(node: unknown): T {
  if (Array.isArray(node)) return node.map((item) => deref(item)) as T;
  if (!node || typeof node !== 'object') return node as T;
  const object = node as Json;
  if (typeof object.$ref === 'string') {
    const target = object.$ref
      .slice(2)
      .split('/')
      .reduce((value: Json, key: string) => value[key.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
    return deref(target);
  }
  return Object.fromEntries(Object.entries(object).map(([key, value]) => [key, deref(value)])) as T;
}

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required: boolean;
  schema: Schema;
}

export interface Operation {
  operationId: string;
  method: string;
  /** The spec's path template, e.g. `/v1/admin/users/{userId}`. */
  path: string;
  parameters: Parameter[];
  /** The JSON body schema, when the operation takes a body. */
  body?: Schema;
  bodyRequired: boolean;
  /** Whether the operation needs (or accepts) a bearer token, and whether it needs the admin role. */
  bearer: 'required' | 'optional' | 'none';
  admin: boolean;
  statuses: string[];
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

export const operations: Operation[] = Object.entries(spec.paths as Json).flatMap(([path, item]) =>
  METHODS.filter((method) => (item as Json)[method]).map((method) => {
    const raw = (item as Json)[method] as Json;
    const operation = deref<Json>(raw);
    const security: Array<Record<string, unknown>> = operation.security ?? spec.security ?? [];
    const acceptsBearer = security.some((requirement) => 'bearerAuth' in requirement);
    const requiresBearer = acceptsBearer && security.every((requirement) => 'bearerAuth' in requirement);
    return {
      operationId: operation.operationId as string,
      method: method.toUpperCase(),
      path,
      parameters: [...(deref<Json[]>((item as Json).parameters) ?? []), ...(operation.parameters ?? [])].map((parameter) => ({
        name: parameter.name,
        in: parameter.in,
        required: Boolean(parameter.required),
        schema: parameter.schema,
      })),
      body: operation.requestBody?.content?.['application/json']?.schema,
      bodyRequired: Boolean(operation.requestBody?.required),
      bearer: requiresBearer ? 'required' : acceptsBearer ? 'optional' : 'none',
      admin: (operation.tags ?? []).includes('Administration'),
      statuses: Object.keys(operation.responses ?? {}),
    } satisfies Operation;
  }),
);

/** Values the generators may reuse so some requests reach real rows (a user's own id, a live session). */
export interface Hints {
  uuids: string[];
  emails: string[];
  /** Values for parameters by name (a configured provider's name for `provider`). */
  parameters?: Record<string, string[]>;
}

const ISO_MIN = new Date('1970-01-01T00:00:00.000Z');
const ISO_MAX = new Date('2100-01-01T00:00:00.000Z');

/** Single code points from all of Unicode (no lone surrogates: those come from `hostileStrings`). */
const anyChar = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);

function stringOf(min: number, max: number): fc.Arbitrary<string> {
  return fc.string({ unit: anyChar, minLength: min, maxLength: Math.min(max, min + 40) });
}

/** An arbitrary for values that validate against `schema`. */
export function valid(schema: Schema, hints: Hints = { uuids: [], emails: [] }): fc.Arbitrary<unknown> {
  const s = deref<Schema>(schema);
  let arbitrary = validNonNull(s, hints);
  if (s.nullable) arbitrary = fc.oneof(arbitrary, fc.constant(null));
  return arbitrary;
}

function validNonNull(s: Schema, hints: Hints): fc.Arbitrary<unknown> {
  if (s.enum) return fc.constantFrom(...(s.enum as unknown[]));
  if (s.oneOf) return fc.oneof(...(s.oneOf as Schema[]).map((option) => valid(option, hints)));
  if (s.anyOf) return fc.oneof(...(s.anyOf as Schema[]).map((option) => valid(option, hints)));
  switch (s.type) {
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return fc.integer({ min: s.minimum ?? -1_000_000, max: s.maximum ?? 1_000_000 });
    case 'number':
      return fc.double({ min: s.minimum ?? -1e6, max: s.maximum ?? 1e6, noNaN: true });
    case 'array':
      return fc.array(valid(s.items ?? {}, hints), { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 5, 5) });
    case 'object':
    case undefined:
      if (!s.properties) return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 });
      return fc.record(
        Object.fromEntries(Object.entries(s.properties as Json).map(([name, property]) => [name, valid(property, hints)])),
        { requiredKeys: s.required ?? [] },
      );
    case 'string':
      return validString(s, hints);
    default:
      return fc.jsonValue({ maxDepth: 1 });
  }
}

function validString(s: Schema, hints: Hints): fc.Arbitrary<string> {
  const min = s.minLength ?? 0;
  const max = s.maxLength ?? 200;
  const fits = (value: string) => [...value].length >= min && [...value].length <= max;
  switch (s.format) {
    case 'email':
      return fc.oneof(
        { weight: 4, arbitrary: fc.emailAddress().filter(fits) },
        ...(hints.emails.length ? [{ weight: 1, arbitrary: fc.constantFrom(...hints.emails) }] : []),
      );
    case 'uuid':
      return fc.oneof(
        { weight: 3, arbitrary: fc.uuid() },
        ...(hints.uuids.length ? [{ weight: 2, arbitrary: fc.constantFrom(...hints.uuids) }] : []),
      );
    case 'date-time':
      return fc.date({ min: ISO_MIN, max: ISO_MAX, noInvalidDate: true }).map((date) => date.toISOString());
    case 'uri':
      return fc.webUrl().filter(fits);
    default:
      if (s.pattern) return fc.stringMatching(new RegExp(s.pattern)).filter(fits);
      return stringOf(min, max);
  }
}

/**
 * Strings that break naive handling of text: NUL and control characters, lone surrogates (JSON.stringify escapes
 * them as `\ud800`), bidirectional overrides, zero-width characters, emoji, combining marks and forms that NFKC
 * folds into something else (fullwidth letters, ligatures, the Kelvin sign).
 */
export const hostileFragments = [
  '\u0000',
  '\u0007',
  '\u001b[31m',
  '\r\n',
  '\ud800',
  '\udfff',
  '\udc00\ud800',
  '\u202e',
  '\u200f',
  '\u061c',
  '\u200b',
  '\u200d',
  '\ufeff',
  '\u2060',
  '😀',
  '👩‍👩‍👧‍👦',
  '🏳️‍🌈',
  'e\u0301',
  'a\u0300\u0301\u0302\u0303\u0304\u0305',
  'ｅｘａｍｐｌｅ',
  'ﬁ',
  '\u212a',
  'Å',
  'İ',
  'ß',
  '\u00a0',
  '\u3000',
  '%00',
  '%0d%0a',
  '${jndi:ldap://127.0.0.1/a}',
  "' OR 1=1 --",
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '\\',
  '"',
];

const fragment = fc.constantFrom(...hostileFragments);

/** A hostile string: fragments mixed with ordinary text. */
export const hostileString: fc.Arbitrary<string> = fc
  .array(fc.oneof(fragment, fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 6 })
  .map((parts) => parts.join(''));

/** Emails with hostile characters in the local part or the domain, or around the whole address. */
export const hostileEmail: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fragment, fc.emailAddress()).map(([bad, email]) => {
    const at = email.indexOf('@');
    return email.slice(0, at) + bad + email.slice(at);
  }),
  fc.tuple(fragment, fc.emailAddress()).map(([bad, email]) => email.replace('@', '@' + bad)),
  fc.tuple(fragment, fc.emailAddress()).map(([bad, email]) => bad + email + bad),
  fc.constantFrom(
    'ａｄａ@example.com',
    'ada@ｅｘａｍｐｌｅ.com',
    'ADA@EXAMPLE.COM',
    'ada@example.com.',
    'ada@[127.0.0.1]',
    '"ada lovelace"@example.com',
    'ada+tag@example.com',
    '@example.com',
    'ada@',
    'ada@@example.com',
    'a'.repeat(64) + '@' + 'b'.repeat(185) + '.com',
    'a'.repeat(300) + '@example.com',
    'ada@xn--exmple-cua.com',
    'ada@exämple.com',
    'adä@example.com',
  ),
);

/** Values of the wrong JSON type for a schema (or of no sensible type at all). */
export function wrongTyped(schema: Schema): fc.Arbitrary<unknown> {
  const s = deref<Schema>(schema);
  const candidates: Array<fc.Arbitrary<unknown>> = [
    fc.constant(null),
    fc.constant([]),
    fc.constant({}),
    fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  ];
  if (s.type !== 'string') candidates.push(fc.string({ maxLength: 20 }), hostileString);
  if (s.type !== 'integer' && s.type !== 'number')
    candidates.push(fc.integer(), fc.double(), fc.constantFrom(1e308, -0, Number.MAX_SAFE_INTEGER + 2));
  if (s.type !== 'boolean') candidates.push(fc.boolean());
  if (s.type === 'string') {
    const max = s.maxLength ?? 1000;
    candidates.push(
      fc.constant('x'.repeat(max + 1)),
      fc.constant(''),
      fc.constant('😀'.repeat(max)),
      hostileString,
    );
    if (s.minLength) candidates.push(fc.constant('x'.repeat(s.minLength - 1)));
  }
  if (s.type === 'integer' || s.type === 'number') {
    candidates.push(fc.constantFrom((s.minimum ?? 0) - 1, (s.maximum ?? 1e9) + 1, 1.5, '1', '1e3', 'NaN'));
  }
  return fc.oneof(...candidates);
}

/** Keys that a careless merge turns into prototype pollution, plus ordinary unknown keys. */
const extraKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'role', 'isAdmin', 'id', ''), fc.string({ maxLength: 10 }));

/** A body that breaks the operation's schema: one mutation of a valid one, or a value of the wrong shape. */
export function malformedBody(schema: Schema | undefined, hints?: Hints): fc.Arbitrary<unknown> {
  const s = schema ? deref<Schema>(schema) : { type: 'object' };
  const base = schema ? valid(s, hints) : fc.constant({});
  const properties = Object.keys(s.properties ?? {});
  const mutations: Array<fc.Arbitrary<unknown>> = [
    wrongTyped(s),
    fc.tuple(base, extraKey, fc.jsonValue({ maxDepth: 2 })).map(([value, key, extra]) =>
      value && typeof value === 'object' ? Object.defineProperty({ ...value }, key, { value: extra, enumerable: true }) : value,
    ),
  ];
  if (properties.length) {
    mutations.push(
      fc.tuple(base, fc.constantFrom(...properties)).chain(([value, name]) =>
        wrongTyped(s.properties[name]).map((bad) => ({ ...(value as Json), [name]: bad })),
      ),
      fc.tuple(base, fc.constantFrom(...properties), hostileString).map(([value, name, bad]) => ({ ...(value as Json), [name]: bad })),
    );
    const emailFields = properties.filter((name) => deref<Schema>(s.properties[name]).format === 'email');
    if (emailFields.length)
      mutations.push(fc.tuple(base, fc.constantFrom(...emailFields), hostileEmail).map(([value, name, bad]) => ({ ...(value as Json), [name]: bad })));
  }
  if (s.required?.length) {
    mutations.push(
      fc.tuple(base, fc.constantFrom(...(s.required as string[]))).map(([value, name]) => {
        const copy = { ...(value as Json) };
        delete copy[name];
        return copy;
      }),
    );
  }
  return fc.oneof(...mutations);
}

export interface GeneratedRequest {
  operation: Operation;
  method: string;
  /** Path and query string, encoded. */
  url: string;
  /** The JSON value to send as the body (undefined: no body). */
  body?: unknown;
}

/** encodeURIComponent that also takes lone surrogates (as their WTF-8 bytes: invalid UTF-8, on purpose). */
export function encode(text: string): string {
  return text.replace(/[\ud800-\udbff][\udc00-\udfff]|[\s\S]/g, (unit) => {
    const code = unit.charCodeAt(0);
    if (unit.length === 1 && code >= 0xd800 && code <= 0xdfff)
      return [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)].map((byte) => '%' + byte.toString(16).toUpperCase()).join('');
    return encodeURIComponent(unit);
  });
}

function fillPath(template: string, values: Record<string, string>): string {
  return template.replace(/\{([^}]+)\}/g, (_match, name: string) => encode(values[name] ?? ''));
}

function queryString(values: Record<string, unknown>): string {
  // encodeURIComponent, not URLSearchParams: the validator refuses `+` for a space (a reserved character).
  const pairs: string[] = [];
  const add = (name: string, value: unknown) =>
    pairs.push(`${encode(name)}=${encode(value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value))}`);
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) add(name, item);
    else add(name, value);
  }
  return pairs.length ? `?${pairs.join('&')}` : '';
}

function parametersOf(operation: Operation, where: 'path' | 'query', make: (parameter: Parameter) => fc.Arbitrary<unknown>) {
  const list = operation.parameters.filter((parameter) => parameter.in === where);
  return fc.record(
    Object.fromEntries(list.map((parameter) => [parameter.name, make(parameter)])),
    { requiredKeys: list.filter((parameter) => parameter.required || where === 'path').map((parameter) => parameter.name) },
  ) as fc.Arbitrary<Record<string, unknown>>;
}

function hinted(parameter: Parameter, hints?: Hints): fc.Arbitrary<unknown> {
  const known = hints?.parameters?.[parameter.name];
  return known?.length ? fc.oneof(valid(parameter.schema, hints), fc.constantFrom(...known)) : valid(parameter.schema, hints);
}

/** A request that follows the operation's schemas. */
export function validRequest(operation: Operation, hints?: Hints): fc.Arbitrary<GeneratedRequest> {
  const body = operation.body
    ? operation.bodyRequired
      ? valid(operation.body, hints)
      : fc.option(valid(operation.body, hints), { nil: undefined })
    : fc.constant(undefined);
  return fc
    .tuple(
      parametersOf(operation, 'path', (parameter) => hinted(parameter, hints)),
      parametersOf(operation, 'query', (parameter) => hinted(parameter, hints)),
      body,
    )
    .map(([path, query, value]) => ({
      operation,
      method: operation.method,
      url: fillPath(operation.path, path as Record<string, string>) + queryString(query),
      body: value,
    }));
}

/** A request with at least one part (path parameter, query parameter or body) that breaks the spec. */
export function malformedRequest(operation: Operation, hints?: Hints): fc.Arbitrary<GeneratedRequest> {
  const queryParameters = operation.parameters.filter((parameter) => parameter.in === 'query');
  const pathParameters = operation.parameters.filter((parameter) => parameter.in === 'path');
  const badQuery = fc.oneof(
    parametersOf(operation, 'query', (parameter) => fc.oneof(wrongTyped(parameter.schema), fc.array(valid(parameter.schema, hints), { minLength: 2, maxLength: 3 }))),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), extraKey), fc.string({ maxLength: 20 }), { minKeys: 1, maxKeys: 3 }),
  );
  const badPathValue = fc.oneof(
    hostileString,
    fc.constantFrom('..', '.', '%2e%2e', 'null', 'undefined', '0', '-1', 'x'.repeat(300), '00000000-0000-0000-0000-00000000000g'),
    fc.string({ minLength: 1, maxLength: 40 }),
  );
  const parts: Array<fc.Arbitrary<GeneratedRequest>> = [
    fc.tuple(validRequest(operation, hints), badQuery).map(([request, query]) => ({
      ...request,
      url: request.url.split('?')[0] + queryString(query),
    })),
  ];
  // fetch sends no body with GET; bodies on GET go over the raw socket in the fuzz test.
  if (operation.method !== 'GET')
    parts.push(fc.tuple(validRequest(operation, hints), malformedBody(operation.body, hints)).map(([request, body]) => ({ ...request, body })));
  if (queryParameters.length === 0 && pathParameters.length === 0) return fc.oneof(...parts);
  if (pathParameters.length) {
    parts.push(
      fc.tuple(validRequest(operation, hints), fc.record(Object.fromEntries(pathParameters.map((parameter) => [parameter.name, badPathValue])))).map(
        ([request, path]) => ({
          ...request,
          url: fillPath(operation.path, path as Record<string, string>) + (request.url.includes('?') ? '?' + request.url.split('?')[1] : ''),
        }),
      ),
    );
  }
  return fc.oneof(...parts);
}
