import type { operations } from '../../generated/openapi.js';

export type OperationId = keyof operations;

/**
 * What the middleware does around an operation, declared by the operation module next to its handler
 * (src/operations/) and found by the middleware in the request's resolved operation (`ctx.state.operation.policy`).
 */
export interface OperationPolicy {
  /** The audit action a security-relevant operation records (a handler may refine it in ctx.state.audit). */
  audit?: string;
  /**
   * Limited per client IP (RATE_LIMIT_PER_MINUTE), and per account (RATE_LIMIT_ACCOUNT_PER_HOUR) when the body names
   * one (an email or an MFA challenge): it guesses at or mails to accounts, checks a step-up proof, or writes a row
   * for anyone who asks.
   */
  rateLimited?: true;
  /** The largest JSON body it takes (koa-body's notation, `1mb`), when larger than the server's 64 KiB. */
  bodyLimit?: string;
  /** Counted in the sign-in outcome metric. */
  signIn?: true;
}

/** The policies of a module's operations. */
export type OperationPolicies<Ids extends OperationId = OperationId> = { readonly [O in Ids]?: OperationPolicy };
