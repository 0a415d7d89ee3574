import type { UserRole } from '../../db/entities.js';

/** Who made the request, from a verified access token. */
export interface Principal {
  userId: string;
  sessionId: string;
  role: UserRole;
}

/** Client details recorded with sessions and attempts. */
export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}
