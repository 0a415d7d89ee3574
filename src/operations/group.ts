import type { Handler, Handlers, OperationId, OperationPolicies } from '../http/operation.js';
import type { MailDeliverer } from '../mail/deliverer.js';

/**
 * A module's handlers, keyed by operationId, built from the dependencies the module declares (`Deps`, next to it):
 * the few domain objects it calls, not the whole set the composition root builds.
 */
export type OperationGroup<Ids extends OperationId, Deps> = (deps: Deps) => { [O in Ids]: Handler<O> };

/** The mail deliverer as a handler uses it: a nudge to send what the request queued now, not at the next tick. */
export type MailKick = Pick<MailDeliverer, 'kick'>;

export type { Handlers, OperationPolicies };
