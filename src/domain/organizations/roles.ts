import type { OrganizationRole } from '../../db/entities.js';
import { ProblemError } from '../kernel/problem.js';

/** `owner` > `admin` > `member`. */
const RANK: Record<OrganizationRole, number> = { member: 1, admin: 2, owner: 3 };

export const atLeast = (role: OrganizationRole, needed: OrganizationRole) => RANK[role] >= RANK[needed];

const insufficient = (detail: string) => new ProblemError('insufficient-role', { detail });

/**
 * The role rules of PRODUCT §5.2, in one place (the spec's operation descriptions say the same). Each throws `403
 * insufficient-role` when the actor's role does not allow the action; the last-owner rule is checked separately,
 * under the organization's lock (see Organizations).
 */
export const roleRules = {
  /** Rename, change the slug. */
  update(actor: OrganizationRole): void {
    if (!atLeast(actor, 'admin')) throw insufficient('Only owners and admins can change the organization.');
  },

  delete(actor: OrganizationRole): void {
    if (actor !== 'owner') throw insufficient('Only owners can delete the organization.');
  },

  /** Invite with `role`, list and revoke invitations (to `role`). Nobody invites above their own role. */
  invite(actor: OrganizationRole, role: OrganizationRole = 'member'): void {
    if (!atLeast(actor, 'admin')) throw insufficient('Only owners and admins can manage invitations.');
    if (!atLeast(actor, role)) throw insufficient('Only owners can invite owners.');
  },

  /** Change `target`'s role to `role`: admins between member and admin, owners anything. */
  changeRole(actor: OrganizationRole, target: OrganizationRole, role: OrganizationRole): void {
    if (!atLeast(actor, 'admin')) throw insufficient('Only owners and admins can change roles.');
    if (!atLeast(actor, target) || !atLeast(actor, role)) throw insufficient('Only owners can make or change owners.');
  },

  /** Remove `target` (someone else; anyone may leave). */
  remove(actor: OrganizationRole, target: OrganizationRole): void {
    if (!atLeast(actor, 'admin')) throw insufficient('Only owners and admins can remove members.');
    if (!atLeast(actor, target)) throw insufficient('Only owners can remove owners.');
  },
};
