import type { OperationId, OperationPolicy } from './operation-policy.js';

const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'] as const;

/** The spec's tag of the operations that need the admin role. */
export const ADMIN_TAG = 'Administration';

/** What the HTTP layer needs to know of one operation of the spec. */
export interface SpecOperation {
  operationId: OperationId;
  tags: string[];
  method: (typeof METHODS)[number];
  /** The path as the spec writes it (`/v1/me/sessions/{sessionId}`). */
  path: string;
  security: Array<Record<string, string[]>>;
  /** From `security`: a bearer token is required, accepted when sent, or not looked at. */
  bearer: 'required' | 'optional' | 'none';
  /** Tagged Administration: the caller needs the admin role. */
  adminOnly: boolean;
  /** The spec gives it a request body (`requiresBody`: a required one). */
  takesBody: boolean;
  requiresBody: boolean;
  /** It takes parameters (path, query, header or cookie) or a body. */
  takesInput: boolean;
}

/**
 * The operation a request is for, resolved once early in the chain (http/router.ts) into `ctx.state.operation`:
 * the spec's facts and the operation module's policy. Every middleware after that reads it from there.
 */
export interface ResolvedOperation extends SpecOperation {
  policy: OperationPolicy;
}

interface SpecOperationObject {
  operationId?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: unknown[];
  requestBody?: { required?: boolean };
}

export interface Spec {
  security?: Array<Record<string, string[]>>;
  paths: Record<string, Partial<Record<string, SpecOperationObject>> & { parameters?: unknown[] }>;
}

/** Every operation of the spec, with what the HTTP layer needs to know of it. The one walk over `paths`. */
export function operationsOf(spec: Spec): SpecOperation[] {
  const found: SpecOperation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      if (!operation.operationId) throw new Error(`${method.toUpperCase()} ${path} has no operationId`);
      const takesBody = operation.requestBody !== undefined;
      const security = operation.security ?? spec.security ?? [];
      const acceptsBearer = security.some((requirement) => 'bearerAuth' in requirement);
      const requiresBearer = acceptsBearer && security.every((requirement) => 'bearerAuth' in requirement);
      found.push({
        operationId: operation.operationId as OperationId,
        tags: operation.tags ?? [],
        method,
        path,
        security,
        bearer: requiresBearer ? 'required' : acceptsBearer ? 'optional' : 'none',
        adminOnly: (operation.tags ?? []).includes(ADMIN_TAG),
        takesBody,
        requiresBody: operation.requestBody?.required === true,
        takesInput: takesBody || (item.parameters?.length ?? 0) > 0 || (operation.parameters?.length ?? 0) > 0,
      });
    }
  }
  return found;
}
