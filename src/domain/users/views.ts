import type { components } from '../../../generated/openapi.js';
import type { Session, User } from '../../db/entities.js';

export type UserView = components['schemas']['User'];
export type SessionView = components['schemas']['Session'];

/** Emails are compared without regard to case and surrounding spaces. */
export const normaliseEmail = (email: string) => email.trim().toLowerCase();

export function toUserView(user: User): UserView {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    emailVerified: user.emailVerified,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

export function toSessionView(session: Session, currentSessionId: string | undefined): SessionView {
  return {
    id: session.id,
    current: session.id === currentSessionId,
    deviceType: session.deviceType,
    browser: session.browser,
    os: session.os,
    ip: session.ip,
    createdAt: session.createdAt.toISOString(),
    lastActiveAt: session.lastActiveAt.toISOString(),
    expiresAt: session.expiresAt.toISOString(),
  };
}
