import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { CliError, withServices } from '../context.js';
import type { Command } from '../command.js';

/**
 * Streams a JSON-lines file of users from another system through the code of adminImportUsers, one transaction per
 * batch of IMPORT_ROWS_PER_CALL lines: a progress line per batch on stderr, the summary on stdout.
 */
export const importUsersCommand: Command = {
  name: 'import-users',
  synopsis: 'import-users <file.jsonl | ->',
  summary: 'create accounts from a JSON-lines file of another system\'s users (bcrypt hashes kept)',
  description: [
    'Each line is one JSON object {"email", "name"?, "emailVerified"?, "role"?, "passwordHash"?, "createdAt"?}, as',
    'adminImportUsers takes them (see the README, "Migrating from another system"); blank lines are skipped. With -',
    'the lines come from standard input. Lines are imported 1,000 at a time, each batch in one transaction; an email',
    'that has an account already is left untouched, nothing is mailed. A progress line per batch goes to stderr;',
    'the summary (created, exists, invalid, and the line number and problem of each invalid line) to stdout.',
    'Exit code 0 when every line was created or existed, 1 when some were invalid (the valid ones are imported).',
    'Example:',
    '  psql -At -c "select json_build_object(\'email\', email, \'passwordHash\', password_hash) from users" \\',
    '    | pulse-auth import-users -',
  ].join('\n'),
  positionals: { min: 1, max: 1 },
  async run(context) {
    const { IMPORT_ROWS_PER_CALL } = await import('../../domain/admin/user-import.js');
    const file = context.positionals[0];
    const input = file === '-' ? process.stdin : createReadStream(file);
    // Before the services start: a missing file is said at once.
    const opened = new Promise<void>((resolve, reject) => {
      if (file === '-') return resolve();
      input.once('open', () => resolve());
      input.once('error', (error: NodeJS.ErrnoException) => reject(new CliError(`cannot read ${file}: ${error.code ?? error.message}`)));
    });
    await opened;

    const totals = { created: 0, exists: 0, invalid: 0 };
    const invalid: Array<{ line: number; problem: string }> = [];
    let lines = 0;
    await withServices(context, async (services) => {
      let batch: Array<{ line: number; value: unknown }> = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const results = await services.userImport.importRows(services.orm.em.fork(), batch.map(({ value }) => value));
        for (const result of results) {
          totals[result.status] += 1;
          if (result.problem) {
            const field = result.problem.field === null ? '' : `${result.problem.field}: `;
            invalid.push({ line: batch[result.row].line, problem: `${field}${result.problem.detail} (${result.problem.code})` });
          }
        }
        batch = [];
        context.err(`import-users: ${lines} lines read; ${totals.created} created, ${totals.exists} exist, ${totals.invalid} invalid`);
      };
      try {
        const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
        for await (const text of reader) {
          lines += 1;
          if (text.trim() === '') continue;
          let value: unknown;
          try {
            value = JSON.parse(text);
          } catch {
            totals.invalid += 1;
            invalid.push({ line: lines, problem: 'not valid JSON (malformed-body)' });
            continue;
          }
          batch.push({ line: lines, value });
          if (batch.length >= IMPORT_ROWS_PER_CALL) await flush();
        }
        await flush();
      } finally {
        // What was imported is on record, even when a batch failed half-way through the file.
        await services.audit.record({
          action: 'admin.users-imported',
          targetUserId: null,
          outcome: 'success',
          details: { via: 'cli import-users', lines, rows: totals.created + totals.exists + totals.invalid, ...totals },
        });
      }
    });

    invalid.sort((a, b) => a.line - b.line);
    context.out(`created ${totals.created}, exists ${totals.exists}, invalid ${totals.invalid} (${lines} lines)`);
    if (invalid.length > 0) {
      context.out(`invalid lines: ${invalid.map(({ line }) => line).join(', ')}`);
      for (const { line, problem } of invalid) context.out(`  line ${line}: ${problem}`);
      throw new CliError(`${invalid.length} of the lines were invalid and not imported; the others were`);
    }
  },
};
