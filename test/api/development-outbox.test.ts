import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createMailTransport } from '../../src/mail/transport.js';
import { verificationMail } from '../../src/mail/templates.js';
import { runCli, temporaryDirectory } from '../multi-instance/processes.js';

/**
 * The development outbox (no SMTP_URL): each mail as an .eml file and as plain text beside it, its links in the log
 * line (outside production), and `pulse-auth outbox` printing the newest mails' links.
 */
describe('the development outbox', function () {
  this.timeout(120_000);
  // A long link with `=` in it: quoted-printable would write `=3D` and break the line with a soft `=`.
  const link = `http://app.test/verify-email?token=${'Ab9_-'.repeat(20)}&x=1`;

  async function writeOne(dir: string, logLinks: boolean) {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write: (chunk, _encoding, callback) => {
        lines.push(JSON.parse(chunk.toString()));
        callback();
      },
    });
    const transport = createMailTransport({ from: 'Pulse Auth <auth@example.com>', devDir: dir, logger: pino({ level: 'info' }, sink), logLinks });
    const content = verificationMail({ link, ttlSeconds: 1800 });
    await transport.send({ id: 'mail-1', to: 'ada@example.com', subject: content.subject, text: content.text, html: content.html });
    transport.close();
    return lines;
  }

  it('writes the mail as .eml and as plain text, and logs the decoded link', async () => {
    const dir = temporaryDirectory('outbox');
    const [line] = await writeOne(dir, true);
    const files = (await readdir(dir)).sort();
    expect(files.map((file) => file.replace(/^.*-mail-1/, 'mail-1'))).to.deep.equal(['mail-1.eml', 'mail-1.txt']);
    const text = await readFile(join(dir, files[1]!), 'utf8');
    expect(text).to.contain('To: ada@example.com\nSubject: Confirm your email address\n\n');
    expect(text.split('\n')).to.include(link); // whole, on one line, not quoted-printable
    expect(line).to.include({ msg: 'development outbox: mail written', to: 'ada@example.com' });
    expect(line!.links).to.deep.equal([link]);
    expect(line!.file).to.equal(join(dir, files[0]!));
  });

  it('keeps the links out of the log line in production', async () => {
    const [line] = await writeOne(temporaryDirectory('outbox'), false);
    expect(line).not.to.have.property('links');
    expect(JSON.stringify(line)).not.to.contain('token=');
  });

  it('prints the newest mails and their links with `pulse-auth outbox`', async () => {
    const dir = temporaryDirectory('outbox');
    await writeOne(dir, true);
    const result = await runCli(['outbox', '--count', '3'], { DATABASE_URL: 'file::memory:', MAIL_DEV_DIR: dir });
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.contain('ada@example.com  Confirm your email address');
    expect(result.stdout.split('\n')).to.include(`  ${link}`);

    const empty = await runCli(['outbox'], { DATABASE_URL: 'file::memory:', MAIL_DEV_DIR: join(dir, 'none') });
    expect(empty.code, empty.stderr).to.equal(0);
    expect(empty.stdout).to.contain('no mail in');
    const bad = await runCli(['outbox', '--count', 'many'], { DATABASE_URL: 'file::memory:', MAIL_DEV_DIR: dir });
    expect(bad.code).to.equal(2);
  });
});
