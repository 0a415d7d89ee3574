import type { Handler, Handlers, OperationId, OperationPolicies } from '../http/operation.js';
import type { Services } from '../services.js';

/** A module's handlers, keyed by operationId, built from the services. */
export type OperationGroup<Ids extends OperationId> = (services: Services) => { [O in Ids]: Handler<O> };

export type { Handlers, OperationPolicies };
