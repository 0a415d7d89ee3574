import { expect } from 'chai';
import { jobs, runJob } from '../../src/jobs/scheduler.js';
import { TestServer, uniqueEmail } from '../helpers/server.js';

/** The value of one sample line of a Prometheus text exposition, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('/metrics', () => {
  let app: TestServer;
  const token = 'a-metrics-token-long-enough';
  before(async () => {
    app = await TestServer.start({ METRICS_TOKEN: token, LOCKOUT_ACCOUNT_THRESHOLD: '2' });
  });
  after(() => app.stop());

  const scrape = async () => {
    const reply = await fetch(`${app.baseUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(reply.status).to.equal(200);
    expect(reply.headers.get('content-type')).to.match(/^text\/plain/);
    return reply.text();
  };

  it('is refused without the configured bearer token', async () => {
    expect((await fetch(`${app.baseUrl}/metrics`)).status).to.equal(401);
    expect((await fetch(`${app.baseUrl}/metrics`, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status).to.equal(401);
  });

  it('counts requests by operation and status, sign-in outcomes and lockouts', async () => {
    const account = await app.createUser();
    const before = await scrape();
    await app.login(account.email, account.password);
    for (let i = 0; i < 3; i += 1) await app.request('POST', '/v1/auth/login', { body: { email: account.email, password: 'wrong guess' } });
    const after = await scrape();
    const delta = (name: string, labels: string) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(delta('pulse_http_requests_total', 'operation="login",status="200"')).to.equal(1);
    expect(delta('pulse_http_requests_total', 'operation="login",status="401"')).to.equal(2);
    expect(delta('pulse_sign_ins_total', 'outcome="success"')).to.equal(1);
    expect(delta('pulse_sign_ins_total', 'outcome="failure"')).to.equal(2);
    expect(delta('pulse_sign_ins_total', 'outcome="locked"')).to.equal(1);
    expect(delta('pulse_lockouts_total', 'scope="account"')).to.equal(1);
    expect(sample(after, 'pulse_http_request_duration_seconds_count', 'operation="login",status="200"')).to.be.at.least(1);
  });

  /** The series an outsider could learn something from: all but request counts (the caller sees its own answers) and process figures. */
  const accountSeries = (text: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith('pulse_') && !/^pulse_(http_|process_|nodejs_)/.test(line))
      .join('\n');

  it('Outbox oracle: no series moves when forgotPassword finds an account, while its mail waits for a slow SMTP server nor once it is delivered', async () => {
    const account = await app.createUser();
    await app.services.mailer.idle();
    // A slow SMTP server: the mail stays queued until delivery is let go.
    const kick = app.services.mailer.kick;
    app.services.mailer.kick = () => {};
    try {
      const before = accountSeries(await scrape());
      expect((await app.request('POST', '/v1/auth/password/forgot', { body: { email: account.email } })).status).to.equal(202);
      expect(accountSeries(await scrape()), 'while the reset mail is queued').to.equal(before);

      app.services.mailer.kick = kick;
      app.services.mailer.kick();
      await app.mail.next(account.email, { subject: /Reset/ });
      await app.services.mailer.idle();
      expect(accountSeries(await scrape()), 'once the reset mail is delivered').to.equal(before);
    } finally {
      app.services.mailer.kick = kick;
    }
  });

  it('shows mail stuck in the outbox by the age of the oldest, in whole minutes, plus delivery failures and job runs', async () => {
    app.mail.refuse = true;
    await app.request('POST', '/v1/auth/register', { body: { email: uniqueEmail(), password: 'a perfectly fine passphrase' } });
    await app.services.mailer.idle();
    const fresh = await scrape();
    expect(sample(fresh, 'pulse_mail_outbox_oldest_pending_seconds'), 'younger than a minute counts as 0').to.equal(0);
    expect(sample(fresh, 'pulse_mail_delivery_failures_total')).to.be.at.least(1);
    expect(fresh).not.to.contain('pulse_mail_outbox_depth');
    app.clock.advance(190);
    expect(sample(await scrape(), 'pulse_mail_outbox_oldest_pending_seconds')).to.equal(180);
    app.mail.refuse = false;
    app.services.mailer.kick();
    await app.services.mailer.idle();
    expect(sample(await scrape(), 'pulse_mail_outbox_oldest_pending_seconds')).to.equal(0);

    await runJob(app.services, jobs(app.services).find((job) => job.name === 'delete-expired-registrations')!);
    const afterJob = await scrape();
    expect(sample(afterJob, 'pulse_job_runs_total', 'job="delete-expired-registrations",result="ok"')).to.equal(1);
    expect(afterJob).to.contain('pulse_process_cpu_user_seconds_total');
  });
});
