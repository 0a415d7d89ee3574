/**
 * Breaking changes of the API: openapi/openapi.yaml against the baseline of the last release (openapi/baseline.yaml),
 * minus the ones approved with a reason in openapi/approved-breaking-changes.yaml. `npm run check:breaking` is the CLI
 * (scripts/check-breaking-changes.ts); the policy is in the README ("Breaking changes").
 *
 * The differ is Atlassian's openapi-diff. It compares paths, methods, response status codes, response headers and
 * the JSON request and response bodies as sets of accepted values (json-schema-diff). It has gaps, documented in its
 * SPEC_SUPPORT.md and the json-schema-diff KEYWORDS.md, that matter here; this module closes them:
 *
 * - Parameters are not compared at all. Each operation's parameters are turned into a synthetic JSON body (one
 *   property per parameter, `required` as declared, no other properties) on a synthetic path, so openapi-diff
 *   reports a removed parameter, a parameter made required, a new required one, or a narrowed parameter schema; the
 *   results are mapped back as `request.parameters.scope.*` at `paths.<path>.<method>.parameters`.
 * - Only `application/json` bodies are compared; the error bodies are `application/problem+json`. Those responses
 *   are handed to openapi-diff as `application/json` (locations are reported with the real media type).
 * - `oneOf`/`anyOf` of objects blow json-schema-diff up (LoginResponse compared with itself did not finish in ten
 *   minutes). For the differ, such a union becomes one object with every branch's properties (required: those every
 *   branch requires); the branches themselves are compared by the checks below.
 * - `enum`, `nullable`, `pattern`, `format`, `requestBody.required`, `security` and union branches are not compared
 *   by openapi-diff: `schemaChanges` and `operationChanges` below do that, with the direction that matters (a request
 *   may only accept more, a response may only promise more).
 *
 * Not covered: a change of media type (a JSON answer turning into text), request media types other than JSON,
 * `readOnly`/`writeOnly`, `uniqueItems`, `multipleOf`, `default`, response header schemas (only their presence and
 * `required`), a property whose schema differs between union branches (the differ sees "any value" there), and inline
 * (non-$ref) union branches, which are matched by position. Review those by hand.
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import openapiDiff from 'openapi-diff';

type Json = any;

export interface Change {
  /** What kind of change: openapi-diff's code (`method.remove`, `request.body.scope.remove`, …) or one of this module's. */
  code: string;
  /** Where: a dotted path into the spec, `paths./v1/auth/login.post.requestBody.content.application/json.schema`. */
  location: string;
  /** What it means, for people. */
  message: string;
  /** Who found it: openapi-diff, or the checks of this module. */
  source: 'openapi-diff' | 'pulse-auth';
  /** For openapi-diff body changes: a JSON schema of the values now refused (request) or newly possible (response). */
  details?: unknown;
}

export interface Differences {
  breaking: Change[];
  nonBreaking: Change[];
}

export interface Approval {
  code: string;
  location: string;
  reason: string;
}

export interface OpenEnum {
  /** A component schema name (`ProblemCode`) whose values may grow in responses without breaking clients. */
  schema: string;
  reason: string;
}

export interface Approvals {
  /** `info.version` of the baseline these approvals are against; they are emptied when the baseline is refreshed. */
  baseline: string;
  approved: Approval[];
  openEnums: OpenEnum[];
}

export interface Report {
  /** The files compared (for messages). */
  files: typeof DEFAULT_FILES;
  baselineVersion: string;
  currentVersion: string;
  /** Breaking changes nobody approved: the check fails on these. */
  unapproved: Change[];
  approved: Array<{ change: Change; approval: Approval }>;
  /** Approvals that match no change (the change was reverted, or its location moved). */
  unusedApprovals: Approval[];
  nonBreaking: Change[];
  /** Problems with the approvals file itself (wrong baseline version, entries without a reason); these fail too. */
  problems: string[];
}

export const DEFAULT_FILES = {
  baseline: 'openapi/baseline.yaml',
  current: 'openapi/openapi.yaml',
  approvals: 'openapi/approved-breaking-changes.yaml',
};

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const SYNTHETIC_PREFIX = '/~parameters';
/** Formats the server (ajv-formats) validates; other formats (`password`) are annotations only. */
const VALIDATED_FORMATS = new Set(['email', 'uuid', 'date-time', 'date', 'time', 'uri', 'url', 'hostname', 'ipv4', 'ipv6', 'byte', 'int32', 'int64']);

// ---------------------------------------------------------------------------------------------------------------------
// Entry points

/** Reads the three files and answers with the report. */
export async function checkFiles(files: Partial<typeof DEFAULT_FILES> = {}): Promise<Report> {
  const paths = { ...DEFAULT_FILES, ...files };
  const baseline = YAML.parse(readFileSync(paths.baseline, 'utf8'));
  const current = YAML.parse(readFileSync(paths.current, 'utf8'));
  const approvals = parseApprovals(YAML.parse(readFileSync(paths.approvals, 'utf8')) ?? {});
  return checkBreakingChanges(baseline, current, approvals, paths);
}

/** Compares two parsed specs and sorts the breaking changes into approved and not. */
export async function checkBreakingChanges(baseline: Json, current: Json, approvals: Approvals, files: typeof DEFAULT_FILES = DEFAULT_FILES): Promise<Report> {
  const differences = await findDifferences(baseline, current, { openEnums: approvals.openEnums.map((entry) => entry.schema) });
  const problems: string[] = [];
  const baselineVersion = String(baseline?.info?.version ?? '');
  if (approvals.baseline !== baselineVersion) {
    problems.push(
      `${files.approvals} is for baseline ${approvals.baseline || '(none)'}, but ${files.baseline} is ` +
        `${baselineVersion}: when the baseline is refreshed, set \`baseline: ${baselineVersion}\` and empty \`approved\`.`,
    );
  }
  for (const entry of [...approvals.approved, ...approvals.openEnums]) {
    if (!entry.reason?.trim()) problems.push(`an entry of ${files.approvals} has no reason: ${JSON.stringify(entry)}`);
  }
  const used = new Set<Approval>();
  const approved: Report['approved'] = [];
  const unapproved: Change[] = [];
  for (const change of differences.breaking) {
    const approval = approvals.approved.find((entry) => entry.code === change.code && locationMatches(entry.location, change.location));
    if (approval) {
      used.add(approval);
      approved.push({ change, approval });
    } else {
      unapproved.push(change);
    }
  }
  return {
    files,
    baselineVersion,
    currentVersion: String(current?.info?.version ?? ''),
    unapproved,
    approved,
    unusedApprovals: approvals.approved.filter((entry) => !used.has(entry)),
    nonBreaking: differences.nonBreaking,
    problems,
  };
}

/** An approval's location is exact, or a pattern where `*` stands for any characters (for one change to a shared schema). */
function locationMatches(pattern: string, location: string): boolean {
  if (!pattern.includes('*')) return pattern === location;
  const expression = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${expression}$`).test(location);
}

export function parseApprovals(raw: Json): Approvals {
  const list = (value: unknown): Json[] => (Array.isArray(value) ? value : []);
  return {
    baseline: raw.baseline === undefined || raw.baseline === null ? '' : String(raw.baseline),
    approved: list(raw.approved).map((entry) => ({ code: String(entry?.code ?? ''), location: String(entry?.location ?? ''), reason: String(entry?.reason ?? '') })),
    openEnums: list(raw.openEnums).map((entry) => ({ schema: String(entry?.schema ?? ''), reason: String(entry?.reason ?? '') })),
  };
}

/** Whether the check passes. */
export function passes(report: Report): boolean {
  return report.unapproved.length === 0 && report.problems.length === 0;
}

/** The report as the CLI prints it, with a ready-to-paste approval entry for each unapproved change. */
export function formatReport(report: Report): string {
  const lines: string[] = [];
  lines.push(`${report.files.current} (${report.currentVersion}) against ${report.files.baseline} (${report.baselineVersion}).`);
  for (const problem of report.problems) lines.push(`✘ ${problem}`);
  if (report.unapproved.length) {
    lines.push('', `✘ ${report.unapproved.length} breaking change(s) not approved:`);
    for (const change of report.unapproved) lines.push(...describe(change));
    lines.push(
      '',
      'If a change is a mistake, undo it. If it is intended, it needs a major version for the release: add each entry',
      `below, with the reason, under \`approved:\` in ${report.files.approvals}:`,
      '',
      ...report.unapproved.flatMap((change) => [
        `  - code: ${change.code}`,
        `    location: ${yamlScalar(change.location)}`,
        '    reason: <why clients must accept this, and how they adapt>',
      ]),
    );
  }
  if (report.approved.length) {
    lines.push('', `${report.approved.length} approved breaking change(s):`);
    for (const { change, approval } of report.approved) lines.push(...describe(change), `      approved: ${approval.reason}`);
  }
  if (report.unusedApprovals.length) {
    lines.push('', `⚠ ${report.unusedApprovals.length} approval(s) match no change any more; remove them:`);
    for (const entry of report.unusedApprovals) lines.push(`  - ${entry.code} at ${entry.location}`);
  }
  if (report.nonBreaking.length) {
    lines.push('', `${report.nonBreaking.length} non-breaking change(s) (a minor version at the release):`);
    for (const change of report.nonBreaking) lines.push(`  + ${change.message}`);
  }
  const next = nextVersion(report);
  if (next) lines.push('', `The next release is at least ${next} (info.version is ${report.currentVersion}).`);
  lines.push('', passes(report) ? '✔ No unapproved breaking changes.' : '✘ Breaking changes found (see above).');
  return lines.join('\n');
}

/** The smallest release version the changes call for (semver: major for breaking, minor for additions). */
export function nextVersion(report: Report): string | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(report.baselineVersion);
  if (!match) return undefined;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (report.approved.length || report.unapproved.length) return `${major + 1}.0.0`;
  if (report.nonBreaking.length) return `${major}.${minor + 1}.0`;
  return undefined;
}

function describe(change: Change): string[] {
  const lines = [`  - ${change.message}`, `      code: ${change.code}`, `      location: ${change.location}`];
  if (change.details !== undefined) {
    const text = JSON.stringify(change.details);
    lines.push(`      difference: ${text.length > 400 ? `${text.slice(0, 400)}…` : text}`);
  }
  return lines;
}

function yamlScalar(value: string): string {
  return /^[\w./{}-]+$/.test(value) && !value.includes(': ') ? value : JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------------------------------
// Finding the differences

export interface DiffOptions {
  /** Component schemas whose enum may grow in responses (see `OpenEnum`). */
  openEnums?: string[];
}

/** Every breaking and non-breaking difference from `baseline` to `current` (parsed OpenAPI 3.0 documents). */
export async function findDifferences(baseline: Json, current: Json, options: DiffOptions = {}): Promise<Differences> {
  const fromDiffer = await differ(baseline, current);
  const own = operationChanges(baseline, current, new Set(options.openEnums ?? []));
  const all = dedupe([...fromDiffer.breaking, ...own]);
  return { breaking: all, nonBreaking: dedupe(fromDiffer.nonBreaking) };
}

function dedupe(changes: Change[]): Change[] {
  const seen = new Set<string>();
  return changes.filter((change) => {
    const key = `${change.code} ${change.location} ${JSON.stringify(change.details ?? null)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** openapi-diff, on copies of the specs prepared as the module comment says. */
async function differ(baseline: Json, current: Json): Promise<Differences> {
  const source = prepareForDiffer(baseline);
  const destination = prepareForDiffer(current);
  pruneIdenticalPaths(source, destination);
  const outcome = await openapiDiff.diffSpecs({
    sourceSpec: { content: JSON.stringify(source.spec), location: 'baseline', format: 'openapi3' },
    destinationSpec: { content: JSON.stringify(destination.spec), location: 'current', format: 'openapi3' },
  });
  const convert = (difference: openapiDiff.DiffResult<openapiDiff.DiffResultType>): Change | undefined => {
    const details = difference.sourceSpecEntityDetails[0] ?? difference.destinationSpecEntityDetails[0];
    let location = details?.location ?? '';
    let code: string = difference.code;
    const synthetic = [source, destination].map((prepared) => prepared.synthetic).find((map) => syntheticOf(location, map));
    if (synthetic) {
      const [, operation] = syntheticOf(location, synthetic)!;
      // The operation itself appearing or going is reported on the real path.
      if (difference.entity === 'path' || difference.entity === 'method') return undefined;
      location = `paths.${operation.path}.${operation.method}.parameters`;
      code = code.replace(/^request\.body\./, 'request.parameters.');
    } else {
      for (const aliased of [...source.aliased, ...destination.aliased]) {
        const prefix = `paths.${aliased.path}.${aliased.method}.responses.${aliased.status}.content.application/json`;
        if (location.startsWith(prefix)) location = location.replace(prefix, prefix.replace(/application\/json$/, aliased.mediaType));
      }
    }
    const differenceSchema = difference.details?.differenceSchema;
    return {
      code,
      location,
      message: messageFor(code, location, [baseline, current]),
      source: 'openapi-diff',
      ...(differenceSchema === undefined ? {} : { details: differenceSchema }),
    };
  };
  const breaking = outcome.breakingDifferencesFound ? outcome.breakingDifferences : [];
  return {
    breaking: breaking.map(convert).filter((change): change is Change => Boolean(change)),
    nonBreaking: outcome.nonBreakingDifferences.map(convert).filter((change): change is Change => Boolean(change)),
  };
}

interface SyntheticOperation {
  path: string;
  method: string;
}

interface Prepared {
  spec: Json;
  /** Synthetic path → the real operation whose parameters it carries. */
  synthetic: Map<string, SyntheticOperation>;
  /** Responses whose problem+json body is handed over as application/json. */
  aliased: Array<{ path: string; method: string; status: string; mediaType: string }>;
}

function syntheticOf(location: string, map: Map<string, SyntheticOperation>): [string, SyntheticOperation] | undefined {
  for (const entry of map) if (location === `paths.${entry[0]}` || location.startsWith(`paths.${entry[0]}.`)) return entry;
  return undefined;
}

function prepareForDiffer(original: Json): Prepared {
  const spec = structuredClone(original);
  const synthetic = new Map<string, SyntheticOperation>();
  const aliased: Prepared['aliased'] = [];
  const syntheticPaths: Record<string, Json> = {};
  for (const [path, item] of Object.entries<Json>(spec.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item?.[method];
      if (!operation) continue;
      // Error bodies: problem+json, handed over as JSON.
      for (const [status, responseOrRef] of Object.entries<Json>(operation.responses ?? {})) {
        const response = resolve(spec, responseOrRef).node;
        const content = response?.content;
        if (!content || content['application/json']) continue;
        const mediaType = Object.keys(content).find((type) => /^application\/[\w.-]+\+json$/.test(type));
        if (!mediaType) continue;
        operation.responses[status] = { ...response, content: { ...content, 'application/json': content[mediaType] } };
        delete operation.responses[status].content[mediaType];
        aliased.push({ path, method, status, mediaType });
      }
      // Parameters: a synthetic body on a synthetic path, for every operation (so that gaining parameters shows).
      const key = `${SYNTHETIC_PREFIX}${normalizePath(path).replace(/\{\}/g, '*')}/${method}`;
      synthetic.set(key, { path, method });
      syntheticPaths[key] = {
        post: {
          requestBody: { required: true, content: { 'application/json': { schema: parametersSchema(spec, path, item, operation) } } },
          responses: { '200': { description: 'synthetic' } },
        },
      };
    }
  }
  Object.assign(spec.paths, syntheticPaths);
  flattenUnions(spec, spec);
  return { spec, synthetic, aliased };
}

/** The parameters of an operation as one object schema: `query.limit`, `path.1` (path parameters by position), … */
function parametersSchema(spec: Json, path: string, item: Json, operation: Json): Json {
  const properties: Record<string, Json> = {};
  const required: string[] = [];
  for (const [name, parameter] of parameterMap(spec, path, item, operation)) {
    properties[name] = parameter.schema ?? {};
    if (parameter.required) required.push(name);
  }
  return { type: 'object', additionalProperties: false, properties, ...(required.length ? { required } : {}) };
}

function parameterMap(spec: Json, path: string, item: Json, operation: Json): Map<string, Json> {
  const pathParameters = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
  const map = new Map<string, Json>();
  for (const parameterOrRef of [...(item.parameters ?? []), ...(operation.parameters ?? [])]) {
    const parameter = resolve(spec, parameterOrRef).node;
    if (!parameter?.name) continue;
    const name =
      parameter.in === 'path'
        ? `path.${pathParameters.indexOf(parameter.name) + 1}`
        : `${parameter.in}.${parameter.in === 'header' ? String(parameter.name).toLowerCase() : parameter.name}`;
    map.set(name, parameter); // operation-level parameters override path-level ones
  }
  return map;
}

/** Replaces every `oneOf`/`anyOf` whose branches are all objects by one object that accepts all of them. */
function flattenUnions(spec: Json, node: Json): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    node.forEach((child) => flattenUnions(spec, child));
    return;
  }
  for (const keyword of ['oneOf', 'anyOf'] as const) {
    const branches = node[keyword];
    if (!Array.isArray(branches)) continue;
    const resolved = branches.map((branch) => resolve(spec, branch).node);
    if (!resolved.every((branch) => branch && (branch.type === 'object' || branch.properties) && !branch.oneOf && !branch.anyOf && !branch.allOf)) continue;
    const properties: Record<string, Json> = {};
    for (const branch of resolved) {
      for (const [name, schema] of Object.entries<Json>(branch.properties ?? {})) {
        if (!(name in properties)) properties[name] = schema;
        else if (JSON.stringify(properties[name]) !== JSON.stringify(schema)) properties[name] = {}; // any value
      }
    }
    const required = resolved
      .map((branch) => new Set<string>(branch.required ?? []))
      .reduce((common, next) => new Set([...common].filter((name) => next.has(name))));
    delete node[keyword];
    node.type = 'object';
    node.properties = properties;
    if (required.size) node.required = [...required];
    if (resolved.every((branch) => branch.additionalProperties === false)) node.additionalProperties = false;
  }
  for (const value of Object.values(node)) flattenUnions(spec, value);
}

/**
 * Drops the paths that are the same in both as far as openapi-diff can tell (every $ref followed, and without the
 * keywords it ignores): it compares path by path, so they add nothing but time (json-schema-diff takes up to a second
 * per body). The keywords it ignores are compared by `operationChanges`.
 */
function pruneIdenticalPaths(source: Prepared, destination: Prepared): void {
  for (const path of Object.keys(source.spec.paths)) {
    if (!(path in destination.spec.paths)) continue;
    const a = JSON.stringify(withoutIgnoredKeywords(inline(source.spec, source.spec.paths[path])));
    const b = JSON.stringify(withoutIgnoredKeywords(inline(destination.spec, destination.spec.paths[path])));
    if (a === b) {
      delete source.spec.paths[path];
      delete destination.spec.paths[path];
    }
  }
}

/** Keywords openapi-diff and json-schema-diff do not look at (SPEC_SUPPORT.md, KEYWORDS.md). */
const IGNORED_BY_DIFFER = new Set(['description', 'summary', 'example', 'examples', 'title', 'tags', 'operationId', 'externalDocs', 'deprecated', 'security', 'enum', 'format', 'pattern', 'nullable', 'default', 'readOnly', 'writeOnly', 'discriminator', 'xml', 'parameters']);
/** Maps whose keys are names (a property called `description`), not keywords. */
const NAME_MAPS = new Set(['properties', 'responses', 'headers', 'content', 'paths']);

function withoutIgnoredKeywords(node: Json, parentKey = ''): Json {
  if (!node || typeof node !== 'object') return node;
  if (Array.isArray(node)) return node.map((child) => withoutIgnoredKeywords(child));
  const names = NAME_MAPS.has(parentKey);
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key]) => names || (!IGNORED_BY_DIFFER.has(key) && !key.startsWith('x-')))
      .map(([key, value]) => [key, withoutIgnoredKeywords(value, names ? '' : key)]),
  );
}

function inline(spec: Json, node: Json, stack: string[] = []): Json {
  if (!node || typeof node !== 'object') return node;
  if (Array.isArray(node)) return node.map((child) => inline(spec, child, stack));
  if (typeof node.$ref === 'string') {
    if (stack.includes(node.$ref)) return { $ref: node.$ref };
    return inline(spec, pointer(spec, node.$ref), [...stack, node.$ref]);
  }
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, inline(spec, value, stack)]));
}

function pointer(spec: Json, ref: string): Json {
  if (!ref.startsWith('#/')) throw new Error(`only local references are supported, not ${ref}`);
  return ref
    .slice(2)
    .split('/')
    .reduce((value: Json, key) => value?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
}

/** Follows `$ref`s; `name` is the last component schema passed through (`#/components/schemas/<name>`). */
function resolve(spec: Json, node: Json): { node: Json; name?: string } {
  let current = node;
  let name: string | undefined;
  for (let hops = 0; current && typeof current.$ref === 'string'; hops += 1) {
    if (hops > 50) throw new Error(`reference loop at ${current.$ref}`);
    const match = /^#\/components\/schemas\/([^/]+)$/.exec(current.$ref);
    if (match) name = match[1];
    current = pointer(spec, current.$ref);
  }
  return { node: current, name };
}

function normalizePath(path: string): string {
  return path.replace(/\{[^}]+\}/g, '{}');
}

// ---------------------------------------------------------------------------------------------------------------------
// The checks openapi-diff does not do

type Direction = 'request' | 'response';

/** Security, request-body presence and the schema keywords openapi-diff ignores, per operation in both specs. */
function operationChanges(baseline: Json, current: Json, openEnums: Set<string>): Change[] {
  const changes: Change[] = [];
  const currentPaths = new Map(Object.keys(current.paths ?? {}).map((path) => [normalizePath(path), path]));
  for (const [basePath, baseItem] of Object.entries<Json>(baseline.paths ?? {})) {
    const currentPath = currentPaths.get(normalizePath(basePath));
    if (!currentPath) continue;
    const currentItem = current.paths[currentPath];
    for (const method of METHODS) {
      const before = baseItem?.[method];
      const after = currentItem?.[method];
      if (!before || !after) continue;
      const at = `paths.${currentPath}.${method}`;
      const label = `${method.toUpperCase()} ${currentPath}`;
      const add = (code: string, where: string, message: string) =>
        changes.push({ code, location: where, message: `${label}: ${message}`, source: 'pulse-auth' });

      // Security: every way in that worked must still work.
      const ways = (spec: Json, operation: Json) => {
        const requirements: Json[] = operation.security ?? spec.security ?? [];
        if (requirements.length === 0) return new Set(['(anonymous)']);
        return new Set(requirements.map((requirement) => Object.keys(requirement).sort().join(' + ') || '(anonymous)'));
      };
      const nowAccepted = ways(current, after);
      for (const way of ways(baseline, before)) {
        if (!nowAccepted.has(way)) add('security.requirement.remove', `${at}.security`, `no longer accepts requests authenticated by ${way}`);
      }

      // Request body: required now, where it was optional or absent.
      const bodyBefore = before.requestBody ? resolve(baseline, before.requestBody).node : undefined;
      const bodyAfter = after.requestBody ? resolve(current, after.requestBody).node : undefined;
      if (bodyAfter?.required && !bodyBefore?.required) add('request.body.required.add', `${at}.requestBody.required`, 'the request body is required now');

      const walk = (schemaBefore: Json, schemaAfter: Json, direction: Direction, where: string) =>
        schemaChanges({ baseline, current, openEnums, at, label, changes }, schemaBefore, schemaAfter, direction, where, []);

      for (const [mediaType, media] of Object.entries<Json>(bodyBefore?.content ?? {})) {
        const mediaAfter = bodyAfter?.content?.[mediaType];
        if (media?.schema && mediaAfter?.schema) walk(media.schema, mediaAfter.schema, 'request', `${at}.requestBody.content.${mediaType}.schema`);
      }
      const parametersBefore = parameterMap(baseline, basePath, baseItem, before);
      const parametersAfter = parameterMap(current, currentPath, currentItem, after);
      for (const [name, parameter] of parametersBefore) {
        const parameterAfter = parametersAfter.get(name);
        if (parameter.schema && parameterAfter?.schema) walk(parameter.schema, parameterAfter.schema, 'request', `${at}.parameters.${name}`);
      }
      for (const [status, responseOrRef] of Object.entries<Json>(before.responses ?? {})) {
        const afterRef = after.responses?.[status];
        if (!afterRef) continue;
        const response = resolve(baseline, responseOrRef).node;
        const responseAfter = resolve(current, afterRef).node;
        for (const [mediaType, media] of Object.entries<Json>(response?.content ?? {})) {
          const mediaAfter = responseAfter?.content?.[mediaType];
          if (media?.schema && mediaAfter?.schema) walk(media.schema, mediaAfter.schema, 'response', `${at}.responses.${status}.content.${mediaType}.schema`);
        }
      }
    }
  }
  return changes;
}

interface WalkContext {
  baseline: Json;
  current: Json;
  openEnums: Set<string>;
  /** The operation's location (`paths./v1/me.get`) and its label (`GET /v1/me`). */
  at: string;
  label: string;
  changes: Change[];
}

/**
 * Walks two versions of a schema side by side (properties, items, additionalProperties, allOf by position, union
 * branches by component name) and reports what json-schema-diff does not see. A request may accept more than
 * before, never less; a response may promise more (fewer values), never less.
 */
function schemaChanges(context: WalkContext, before: Json, after: Json, direction: Direction, where: string, stack: string[], inUnion = false): void {
  const a = resolve(context.baseline, before);
  const b = resolve(context.current, after);
  const guard = `${a.name ?? '?'}→${b.name ?? '?'}`;
  if (a.name && b.name && stack.includes(guard)) return;
  const nextStack = a.name && b.name ? [...stack, guard] : stack;
  const s = a.node;
  const d = b.node;
  if (!s || !d || typeof s !== 'object' || typeof d !== 'object') return;
  const relative = where.startsWith(`${context.at}.`) ? where.slice(context.at.length + 1) : where;
  const add = (code: string, message: string) =>
    context.changes.push({ code: `${direction}.${code}`, location: where, message: `${context.label}: ${message} (${relative})`, source: 'pulse-auth' });
  const show = (values: unknown[]) => values.map((value) => JSON.stringify(value)).join(', ');

  if (direction === 'request') {
    if (Array.isArray(d.enum)) {
      if (!Array.isArray(s.enum)) add('enum.value.remove', `only ${show(d.enum)} accepted now, any value before`);
      else {
        const removed = s.enum.filter((value: unknown) => !d.enum.includes(value));
        if (removed.length) add('enum.value.remove', `${show(removed)} no longer accepted`);
      }
    }
    if (s.nullable === true && d.nullable !== true) add('nullable.remove', '`null` no longer accepted');
    if (d.pattern !== undefined && d.pattern !== s.pattern) add('pattern.change', `pattern ${s.pattern === undefined ? 'added' : 'changed'}: ${d.pattern} (was ${s.pattern ?? 'none'})`);
    if (VALIDATED_FORMATS.has(d.format) && d.format !== s.format) add('format.change', `format ${d.format} required now (was ${s.format ?? 'none'})`);
  } else {
    if (Array.isArray(s.enum) && !context.openEnums.has(b.name ?? '') && !context.openEnums.has(a.name ?? '')) {
      if (!Array.isArray(d.enum)) add('enum.value.add', `any value possible now, only ${show(s.enum)} before`);
      else {
        const added = d.enum.filter((value: unknown) => !s.enum.includes(value));
        if (added.length) add('enum.value.add', `${show(added)} possible now`);
      }
    }
    if (s.nullable !== true && d.nullable === true) add('nullable.add', '`null` possible now');
    if (s.pattern !== undefined && d.pattern !== s.pattern) add('pattern.change', `pattern ${d.pattern === undefined ? 'no longer promised' : `changed to ${d.pattern}`} (was ${s.pattern})`);
    if (VALIDATED_FORMATS.has(s.format) && d.format !== s.format) add('format.change', `format ${s.format} no longer promised (now ${d.format ?? 'none'})`);
  }

  // Inside a union the differ only sees the merged object (see flattenUnions), so required-ness is checked here.
  if (inUnion) {
    const requiredBefore = new Set<string>(s.required ?? []);
    const requiredAfter = new Set<string>(d.required ?? []);
    if (direction === 'request') {
      for (const name of requiredAfter) if (!requiredBefore.has(name)) add('required.add', `\`${name}\` is required now`);
      if (d.additionalProperties === false) {
        for (const name of Object.keys(s.properties ?? {})) if (!d.properties?.[name]) add('property.remove', `\`${name}\` is no longer accepted`);
      }
    } else {
      for (const name of requiredBefore) if (!requiredAfter.has(name)) add('required.remove', `\`${name}\` is no longer always present`);
    }
  }

  for (const [name, schema] of Object.entries<Json>(s.properties ?? {})) {
    if (d.properties?.[name]) schemaChanges(context, schema, d.properties[name], direction, `${where}.properties.${name}`, nextStack, inUnion);
  }
  if (s.items && d.items) schemaChanges(context, s.items, d.items, direction, `${where}.items`, nextStack, inUnion);
  if (s.additionalProperties && typeof s.additionalProperties === 'object' && d.additionalProperties && typeof d.additionalProperties === 'object') {
    schemaChanges(context, s.additionalProperties, d.additionalProperties, direction, `${where}.additionalProperties`, nextStack, inUnion);
  }
  if (Array.isArray(s.allOf) && Array.isArray(d.allOf)) {
    s.allOf.forEach((branch: Json, index: number) => d.allOf[index] && schemaChanges(context, branch, d.allOf[index], direction, `${where}.allOf.${index}`, nextStack, inUnion));
  }
  const unionBefore: Json[] | undefined = s.oneOf ?? s.anyOf;
  const unionAfter: Json[] | undefined = d.oneOf ?? d.anyOf;
  if (Array.isArray(unionBefore) && Array.isArray(unionAfter)) {
    const named = (branches: Json[], spec: Json) => branches.map((branch) => (typeof branch?.$ref === 'string' ? resolve(spec, branch).name : undefined));
    const namesBefore = named(unionBefore, context.baseline);
    const namesAfter = named(unionAfter, context.current);
    if (namesBefore.every(Boolean) && namesAfter.every(Boolean)) {
      if (direction === 'request') {
        for (const name of namesBefore) if (!namesAfter.includes(name)) add('body.variant.remove', `the variant ${name} is no longer accepted`);
      } else {
        for (const name of namesAfter) if (!namesBefore.includes(name)) add('body.variant.add', `the variant ${name} is possible now`);
      }
      namesBefore.forEach((name, index) => {
        const other = namesAfter.indexOf(name);
        if (other >= 0) schemaChanges(context, unionBefore[index], unionAfter[other], direction, `${where}.${s.oneOf ? 'oneOf' : 'anyOf'}.${name}`, nextStack, true);
      });
    } else {
      unionBefore.forEach((branch, index) => unionAfter[index] && schemaChanges(context, branch, unionAfter[index], direction, `${where}.${s.oneOf ? 'oneOf' : 'anyOf'}.${index}`, nextStack, true));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Messages

function messageFor(code: string, location: string, specs: Json[]): string {
  const { path, method, rest } = splitLocation(location, specs);
  const label = method ? `${method.toUpperCase()} ${path}` : path;
  const status = /^responses\.(\w+)/.exec(rest)?.[1];
  switch (code) {
    case 'path.remove':
      return `${path}: the path is gone`;
    case 'path.add':
      return `${path}: new path`;
    case 'method.remove':
      return `${label}: the operation is gone`;
    case 'method.add':
      return `${label}: new operation`;
    case 'request.body.scope.remove':
      return `${label}: refuses request bodies it accepted before (a field removed, made required or narrowed)`;
    case 'request.body.scope.add':
      return `${label}: accepts more request bodies than before`;
    case 'request.parameters.scope.remove':
      return `${label}: refuses parameters it accepted before (a parameter removed, made required, added as required, or narrowed)`;
    case 'request.parameters.scope.add':
      return `${label}: accepts more parameters than before`;
    case 'response.body.scope.add':
      return `${label}: the ${status} answer can hold what clients have not seen before (a field removed, made optional, or widened)`;
    case 'response.body.scope.remove':
      return `${label}: the ${status} answer is narrower than before`;
    case 'response.status-code.remove':
      return `${label}: no longer answers ${status}`;
    case 'response.status-code.add':
      return `${label}: may answer ${status} now`;
    case 'response.required.header.remove':
      return `${label}: the ${status} answer no longer promises a header (${rest})`;
    default:
      return `${label}: ${code} (${rest || location})`;
  }
}

function splitLocation(location: string, specs: Json[]): { path: string; method?: string; rest: string } {
  const candidates = specs.flatMap((spec) => Object.keys(spec?.paths ?? {})).sort((x, y) => y.length - x.length);
  for (const path of candidates) {
    const prefix = `paths.${path}`;
    if (location === prefix) return { path, rest: '' };
    if (location.startsWith(`${prefix}.`)) {
      const [method, ...rest] = location.slice(prefix.length + 1).split('.');
      return { path, method, rest: rest.join('.') };
    }
  }
  return { path: location, rest: '' };
}

