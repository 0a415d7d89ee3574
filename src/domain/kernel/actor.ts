import type { OrganizationRole, UserRole } from '../../db/entities.js';

/** Who made the request, from a verified access token. */
export interface Principal {
  userId: string;
  sessionId: string;
  role: UserRole;
  /** The organization the access token is scoped to (`org_id`, `org_role`), checked against the session and membership. */
  organization?: { id: string; role: OrganizationRole };
}

/** Client details recorded with sessions and attempts. */
export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}
