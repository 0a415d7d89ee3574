import { listAuditEvents, listBlockedIps, listLoginAttempts } from '../domain/admin/admin-lists.js';
import { toSessionView } from '../domain/users/views.js';
import { SigningKeyConfigured } from '../domain/tokens/signing-keys.js';
import { runCleanup, type JobDeps } from '../jobs/scheduler.js';
import type { AdminUsers } from '../domain/admin/admin-users.js';
import { countResults, type UserImport } from '../domain/admin/user-import.js';
import type { Sessions } from '../domain/sessions/sessions.js';
import type { SignInGuard } from '../domain/protection/sign-in-guard.js';
import type { SigningKeys } from '../domain/tokens/signing-keys.js';
import type { Mfa } from '../domain/mfa/mfa.js';
import { ProblemError } from '../domain/kernel/problem.js';
import type { MailKick, OperationGroup, OperationPolicies } from './group.js';

/** adminRunCleanup runs the cleanup jobs (JobDeps); the rest are the domain objects the handlers call. */
export interface AdminDeps extends JobDeps {
  adminUsers: AdminUsers;
  userImport: UserImport;
  sessions: Sessions;
  guard: SignInGuard;
  signingKeys: SigningKeys;
  mfa: Mfa;
  mailer: JobDeps['mailer'] & MailKick;
}

const pageOf = (query: { limit?: number; cursor?: string }) => ({ limit: query.limit ?? 20, cursor: query.cursor });

/** Audit actions of the administration operations that change something (see OperationPolicy). */
export const adminPolicies: OperationPolicies = {
  adminUpdateUser: { audit: 'admin.user-updated' },
  adminDeleteUser: { audit: 'admin.user-deleted' },
  adminRestoreUser: { audit: 'admin.user-restored' },
  adminRevokeUserSessions: { audit: 'admin.sessions-revoked' },
  adminResetUserMfa: { audit: 'admin.user-mfa-reset' },
  adminUnblockIp: { audit: 'admin.ip-unblocked' },
  adminRunCleanup: { audit: 'admin.cleanup-run' },
  adminRotateSigningKey: { audit: 'admin.signing-key-rotated' },
  // 1,000 rows with their hashes and names do not fit in the 64 KiB of every other body.
  adminImportUsers: { audit: 'admin.users-imported', bodyLimit: '1mb' },
};

export const adminOperations: OperationGroup<
  | 'adminListUsers'
  | 'adminImportUsers'
  | 'adminGetUser'
  | 'adminUpdateUser'
  | 'adminDeleteUser'
  | 'adminRestoreUser'
  | 'adminListUserSessions'
  | 'adminRevokeUserSessions'
  | 'adminResetUserMfa'
  | 'adminListLoginAttempts'
  | 'adminListBlockedIps'
  | 'adminUnblockIp'
  | 'adminListAuditEvents'
  | 'adminRunCleanup'
  | 'adminRotateSigningKey',
  AdminDeps
> = (services) => {
  const { adminUsers, sessions, guard, signingKeys, clock } = services;

  return {
    async adminListUsers({ query, ctx }) {
      return { status: 200, body: await adminUsers.list(ctx.state.em, { ...query, ...pageOf(query) }) };
    },

    async adminImportUsers({ body, ctx }) {
      const results = await services.userImport.importRows(ctx.state.em, body.users);
      const counts = countResults(results);
      ctx.state.audit = { targetUserId: null, details: { rows: results.length, ...counts } };
      return {
        status: 200,
        body: {
          ...counts,
          results: results.map(({ problem, ...result }) => ({
            ...result,
            problem: problem && {
              code: problem.code,
              detail: problem.detail,
              pointer: `/body/users/${result.row}${problem.field === null ? '' : `/${problem.field.replace(/~/g, '~0').replace(/\//g, '~1')}`}`,
            },
          })),
        },
      };
    },

    async adminGetUser({ path, ctx }) {
      return { status: 200, body: adminUsers.view(await adminUsers.get(ctx.state.em, path.userId)) };
    },

    async adminUpdateUser({ path, body, ctx }) {
      const user = await adminUsers.update(ctx.state.em, path.userId, body);
      ctx.state.audit = { details: { changes: body } };
      return { status: 200, body: adminUsers.view(user) };
    },

    async adminDeleteUser({ path, query, ctx }) {
      await adminUsers.delete(ctx.state.em, path.userId, query.hard ?? false);
      ctx.state.audit = { details: { hard: query.hard ?? false } };
      services.mailer.kick();
      return { status: 204 };
    },

    async adminRestoreUser({ path, ctx }) {
      return { status: 200, body: adminUsers.view(await adminUsers.restore(ctx.state.em, path.userId)) };
    },

    async adminListUserSessions({ path, ctx }) {
      await adminUsers.get(ctx.state.em, path.userId);
      const live = await sessions.listLive(ctx.state.em, path.userId);
      return { status: 200, body: { items: live.map((session) => toSessionView(session, undefined)) } };
    },

    async adminRevokeUserSessions({ path, ctx }) {
      await adminUsers.get(ctx.state.em, path.userId);
      const ended = await sessions.revokeAllOf(ctx.state.em, path.userId, 'revoked-by-admin');
      ctx.state.audit = { details: { sessions: ended } };
      return { status: 204 };
    },

    async adminResetUserMfa({ path, ctx }) {
      await adminUsers.get(ctx.state.em, path.userId);
      await services.mfa.resetByAdmin(ctx.state.em, path.userId);
      services.mailer.kick();
      return { status: 204 };
    },

    async adminListLoginAttempts({ query, ctx }) {
      return { status: 200, body: await listLoginAttempts(ctx.state.em, query, pageOf(query)) };
    },

    async adminListBlockedIps({ query, ctx }) {
      return { status: 200, body: { items: await listBlockedIps(ctx.state.em, clock.now(), { all: query.all }) } };
    },

    async adminUnblockIp({ path, ctx }) {
      if (!(await guard.unblockIp(ctx.state.em, path.ip))) {
        throw new ProblemError('not-found', { detail: 'This IP has no block in force.' });
      }
      ctx.state.audit = { targetUserId: null, details: { ip: path.ip } };
      return { status: 204 };
    },

    async adminListAuditEvents({ query, ctx }) {
      return { status: 200, body: await listAuditEvents(ctx.state.em, query, pageOf(query)) };
    },

    async adminRunCleanup({ ctx }) {
      const results = await runCleanup(services);
      ctx.state.audit = { targetUserId: null };
      return {
        status: 200,
        body: {
          jobs: results.map(({ name, counts }) => ({ name, skipped: counts === 'skipped', counts: counts === 'skipped' ? {} : counts })),
        },
      };
    },

    async adminRotateSigningKey({ ctx }) {
      try {
        const rotation = await signingKeys.rotate();
        ctx.state.audit = { targetUserId: null, details: { kid: rotation.kid } };
        return { status: 200, body: { kid: rotation.kid, activatesAt: rotation.activatesAt.toISOString(), retiring: rotation.retiring } };
      } catch (error) {
        if (error instanceof SigningKeyConfigured) throw new ProblemError('signing-key-configured', { detail: error.message });
        throw error;
      }
    },
  };
};
