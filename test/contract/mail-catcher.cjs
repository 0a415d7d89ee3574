'use strict';
/**
 * An SMTP server that keeps every mail it receives in memory, for the contract tests: the server under test sends
 * its verification mail here, and the hooks read the link back. Plain SMTP only (no STARTTLS); any AUTH is accepted,
 * so an SMTP_URL with or without `user:pass@` works.
 */
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');

/**
 * Starts the catcher. `host` 127.0.0.1 for a server we start ourselves; 0.0.0.0 when another machine (staging)
 * delivers to it. `port` 0 picks a free one.
 */
async function startMailCatcher({ host = '127.0.0.1', port = 0 } = {}) {
  const mails = [];
  const waiters = new Set();

  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username || 'anonymous' });
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          const envelopeTo = session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase());
          const headerTo = (parsed.to ? [].concat(parsed.to) : []).flatMap((group) => group.value.map((a) => (a.address || '').toLowerCase()));
          const mail = {
            to: [...new Set([...envelopeTo, ...headerTo])],
            subject: parsed.subject || '',
            text: parsed.text || '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            receivedAt: Date.now(),
          };
          mails.push(mail);
          for (const waiter of [...waiters]) waiter(mail);
          callback();
        })
        .catch(callback);
    },
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => console.error(`[mail-catcher] ${error.message}`));
  const address = server.server.address();

  return {
    host,
    port: address.port,
    mails,
    /**
     * The first mail (already received or still to come) to `to` that satisfies `match`; rejects after `timeoutMs`.
     */
    waitFor(to, { match = () => true, timeoutMs = 30_000 } = {}) {
      const address = to.toLowerCase();
      const fits = (mail) => mail.to.includes(address) && match(mail);
      const found = mails.find(fits);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no mail to ${to} arrived within ${timeoutMs} ms (the catcher received ${mails.length} mail(s) in all)`));
        }, timeoutMs);
        const waiter = (mail) => {
          if (!fits(mail)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(mail);
        };
        waiters.add(waiter);
      });
    },
    close() {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The `token` parameter of the first link in a mail that carries one (the verification link). */
function verificationTokenOf(mail) {
  for (const body of [mail.text, mail.html]) {
    const match = /[?&]token=([^&\s"'<>]+)/.exec(body || '');
    if (match) return decodeURIComponent(match[1]);
  }
  return null;
}

module.exports = { startMailCatcher, verificationTokenOf };
