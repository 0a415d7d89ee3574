import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import { UserSchema, type User, type UserRole } from '../../db/entities.js';

export interface NewUser {
  email: string;
  name: string | null;
  passwordHash: string | null;
  role: UserRole;
  now: Date;
  /** An imported account keeps the other system's facts (adminImportUsers); every other way makes a verified one, now. */
  emailVerified?: boolean;
  createdAt?: Date;
}

/**
 * A new verified account, with no second factor, lock or deletion: every way of making an account (email
 * verification, social sign-up, the CLI) goes through here. The caller's flush writes it.
 */
export function createUser(em: EntityManager, input: NewUser): User {
  return em.create(UserSchema, {
    id: randomUUID(),
    email: input.email,
    name: input.name,
    passwordHash: input.passwordHash,
    role: input.role,
    emailVerified: input.emailVerified ?? true,
    createdAt: input.createdAt ?? input.now,
    updatedAt: input.now,
    deletedAt: null,
    lockedAt: null,
    totpSecret: null,
    totpEnabledAt: null,
    totpLastStep: null,
    emailOtpEnabledAt: null,
  });
}
