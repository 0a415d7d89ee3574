import { Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { CliError, withServices } from '../context.js';
import type { Command } from '../command.js';
import { userData, webhookEvents } from '../../domain/webhooks/events.js';

/**
 * Gives an existing (verified) account the admin role, or creates a verified admin account with the password from
 * stdin. The password is checked against the same policy as at sign-up and hashed with the configured bcrypt cost.
 */
export const createAdminCommand: Command = {
  name: 'create-admin',
  synopsis: 'create-admin <email> [--password-stdin]',
  summary: 'give an account the admin role, or create a verified admin account',
  description: [
    'An account with this email gets the admin role (its password is left as it is); it shows in the access tokens',
    'issued from then on, at its next sign-in or token refresh. With no account, a verified admin account is created:',
    'pass --password-stdin and the password on standard input (one line; on a terminal it is asked for, twice).',
    'The password must pass the same policy as at sign-up. Example:',
    '  printf %s "$ADMIN_PASSWORD" | pulse-auth create-admin ops@example.com --password-stdin',
  ].join('\n'),
  options: { 'password-stdin': { type: 'boolean' } },
  positionals: { min: 1, max: 1 },
  async run(context) {
    const { UniqueConstraintViolationException } = await import('@mikro-orm/core');
    const { PendingRegistrationSchema, UserSchema } = await import('../../db/entities.js');
    const { createUser } = await import('../../domain/users/new-user.js');
    const { passwordWeakness } = await import('../../domain/passwords/policy.js');
    const { normaliseEmail } = await import('../../domain/users/views.js');
    const { isEmailAddress } = await import('../../domain/users/email-format.js');
    const email = normaliseEmail(context.positionals[0]);
    // The format sign-up accepts: a Unicode address could lower-case onto another account's (a Kelvin sign to "k").
    if (!isEmailAddress(context.positionals[0].trim())) throw new CliError(`not an email address: ${JSON.stringify(context.positionals[0])}`);
    // Read before anything else, so that a writer piping the password never meets a closed pipe.
    const password = context.values['password-stdin'] ? await readPassword() : undefined;

    await withServices(context, async (services) => {
      const em = services.orm.em.fork();
      const existing = await em.findOne(UserSchema, { email });
      if (existing) {
        if (existing.deletedAt) throw new CliError(`the account ${email} is deleted (since ${existing.deletedAt.toISOString()}); restore it first`);
        if (!existing.emailVerified) throw new CliError(`the account ${email} has not verified its email; nothing changed`);
        const unused = password === undefined ? '' : ' (the password on stdin was not used: the account keeps its own)';
        if (existing.role === 'admin') {
          context.out(`${email} (id ${existing.id}) is already an admin; nothing changed${unused}`);
          return;
        }
        const previous = existing.role;
        existing.role = 'admin';
        existing.updatedAt = services.clock.now();
        await em.flush();
        await services.audit.record({
          action: 'admin.user-updated',
          targetUserId: existing.id,
          details: { role: 'admin', previousRole: previous, via: 'cli create-admin' },
        });
        context.out(`${email} (id ${existing.id}) is now an admin (was: ${previous}); it takes effect at its next sign-in or token refresh${unused}`);
        return;
      }

      if (password === undefined) {
        throw new CliError(`there is no account ${email}; to create one, pass --password-stdin and the password on standard input`);
      }
      if (password === '') throw new CliError('no password on standard input');
      const weakness = passwordWeakness(password);
      if (weakness) throw new CliError(`the password is refused: ${weakness}`);
      const passwordHash = await services.hasher.hash(password);
      try {
        const user = await em.fork().transactional(async (tx) => {
          const now = services.clock.now();
          // Sign-up links still waiting for this email would only fail later on the taken email.
          await tx.nativeDelete(PendingRegistrationSchema, { email });
          const created = createUser(tx, { email, name: null, passwordHash, role: 'admin', now });
          await webhookEvents.emit(tx, now, 'user.created', userData(created));
          return created;
        });
        await services.audit.record({ action: 'admin.user-created', targetUserId: user.id, details: { role: 'admin', via: 'cli create-admin' } });
        context.out(`created the admin account ${email} (id ${user.id}), verified`);
      } catch (error) {
        if (error instanceof UniqueConstraintViolationException) {
          throw new CliError(`an account ${email} was created meanwhile (by a sign-up); run the command again to make it an admin`);
        }
        throw error;
      }
    });
  },
};

/** The whole of stdin less one final line break; on a terminal, a prompt with no echo, asked twice. */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) {
    const first = await prompt('Password: ');
    const second = await prompt('Repeat the password: ');
    if (first !== second) throw new CliError('the two passwords differ');
    return first;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function prompt(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, callback) {
      if (!muted) process.stderr.write(chunk);
      callback();
    },
  });
  const reader = createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await new Promise<string>((resolve) => {
      reader.question(question, resolve);
      muted = true;
    });
  } finally {
    reader.close();
    process.stderr.write('\n');
  }
}
