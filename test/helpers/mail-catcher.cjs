'use strict';
/**
 * The one SMTP catcher of the tests: a real SMTP server that keeps every mail it receives in memory. CommonJS so
 * that the dredd hooks (test/contract, which must be CommonJS) load it as they are; TypeScript tests use it through
 * the typed class in mail-catcher.ts. Plain SMTP only (no STARTTLS); any AUTH is accepted, so an SMTP_URL with or
 * without `user:pass@` works. Setting `refuse` answers every recipient with 450 (an SMTP outage).
 */
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');

/** A catcher that does not listen yet: `listen()` starts it. */
function createMailCatcher() {
  const mails = [];
  const waiters = new Set();
  let address = null;

  const catcher = {
    host: null,
    port: null,
    mails,
    refuse: false,
    listen,
    waitForMail,
    waitFor,
    close,
  };

  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username || 'anonymous' });
    },
    onRcptTo(_address, _session, callback) {
      if (catcher.refuse) return callback(Object.assign(new Error('Mailbox unavailable (test outage)'), { responseCode: 450 }));
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          const headerTo = (parsed.to ? [].concat(parsed.to) : []).flatMap((group) => group.value.map((a) => a.address || ''));
          const envelopeTo = session.envelope.rcptTo.map((rcpt) => rcpt.address);
          const mail = {
            to: headerTo[0] || '',
            recipients: [...new Set([...envelopeTo, ...headerTo].filter(Boolean).map((a) => a.toLowerCase()))],
            subject: parsed.subject || '',
            text: parsed.text || '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            receivedAt: Date.now(),
          };
          mails.push(mail);
          for (const waiter of [...waiters]) waiter(mail, mails.length - 1);
          callback();
        })
        .catch(callback);
    },
  });

  /**
   * Starts listening. `host` 127.0.0.1 for a server in this machine; 0.0.0.0 when another machine (staging)
   * delivers to it. `port` 0 picks a free one.
   */
  async function listen({ host = '127.0.0.1', port = 0 } = {}) {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => console.error(`[mail-catcher] ${error.message}`));
    address = server.server.address();
    catcher.host = host;
    catcher.port = address.port;
    return address.port;
  }

  /**
   * The first mail at index `after` or later (already received or still to come) that `fits`; rejects after
   * `timeoutMs` with an error naming `what` was awaited.
   */
  function waitForMail(fits, { after = 0, timeoutMs = 30_000, what = 'that fits' } = {}) {
    const found = mails.slice(after).find(fits);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no mail ${what} arrived within ${timeoutMs} ms (the catcher received ${mails.length} mail(s) in all)`));
      }, timeoutMs);
      const waiter = (mail, index) => {
        if (index < after || !fits(mail)) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve(mail);
      };
      waiters.add(waiter);
    });
  }

  /** The first mail (already received or still to come) to `to`, any case, that satisfies `match`. */
  function waitFor(to, { match = () => true, timeoutMs = 30_000 } = {}) {
    const recipient = to.toLowerCase();
    return waitForMail((mail) => mail.recipients.includes(recipient) && match(mail), { timeoutMs, what: `to ${to}` });
  }

  function close() {
    return new Promise((resolve) => server.close(() => resolve()));
  }

  return catcher;
}

/** A catcher already listening (see `listen`). */
async function startMailCatcher(options = {}) {
  const catcher = createMailCatcher();
  await catcher.listen(options);
  return catcher;
}

/** The `token` parameter of the first link in a mail that carries one (text or HTML part), or null. */
function verificationTokenOf(mail) {
  for (const body of [mail.text, mail.html]) {
    const match = /[?&]token=([^&\s"'<>]+)/.exec(body || '');
    if (match) return decodeURIComponent(match[1]);
  }
  return null;
}

module.exports = { createMailCatcher, startMailCatcher, verificationTokenOf };
