import { expect } from 'chai';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { Browser, TestOidcProvider, type FlowResult } from '../helpers/oidc-provider.js';

const LANDING = 'http://app.test/oauth/complete';
/** U+212A KELVIN SIGN: JavaScript lower-cases it to an ASCII "k". */
const KELVIN = '\u212A';

/**
 * Provider email claims get the format check sign-up's email gets (issue 14.5): a Unicode address that lower-cases
 * onto an ASCII one must not sign in to, link to or create the account of that ASCII address.
 */
describe('social sign-in: the email claim must be a plain address, as at sign-up', () => {
  const adminEmail = uniqueEmail('kate-admin');
  let idp: TestOidcProvider;
  let app: TestServer;

  before(async () => {
    idp = await TestOidcProvider.listen();
    app = await TestServer.start({ OIDC_PROVIDERS: 'acme', ...idp.envFor('acme'), ADMIN_EMAILS: adminEmail }, { publicUrlIsServer: true });
    idp.configure(`${app.baseUrl}/v1/auth/oauth/acme/callback`);
  });
  after(async () => {
    await app?.stop();
    await idp?.stop();
  });

  let accounts = 0;
  const signIn = (claims: { email: string; email_verified: boolean; name?: string }) => {
    const login = `acme-format-${process.pid}-${++accounts}`;
    idp.accounts.set(login, claims);
    return { login, result: new Browser(app.baseUrl).signIn('acme', { login }) };
  };
  const expectRefused = (result: FlowResult, error: string) => {
    expect(result.location.split('?')[0], result.visited.join('\n')).to.equal(LANDING);
    expect(Object.fromEntries(result.outcome)).to.deep.equal({ error });
    expect(result.refreshCookie, 'no session was started').to.equal(undefined);
  };
  const identitiesOf = async (accessToken: string) => (await app.request('GET', '/v1/me/identities', { token: accessToken })).body.items;

  it('Unicode email folding: a provider email with a Kelvin sign (email_verified true) does not sign in to kate@example.com', async () => {
    const kate = await app.createUser({ email: uniqueEmail('kate') });
    const folded = KELVIN + kate.email.slice(1);
    expect(folded.toLowerCase()).to.equal(kate.email);

    const { result } = signIn({ email: folded, email_verified: true, name: 'Not Kate' });
    expectRefused(await result, 'email-unsupported');
    const { accessToken } = await app.login(kate.email, kate.password);
    expect(await identitiesOf(accessToken), 'nothing was linked to kate').to.deep.equal([]);
  });

  it('Unicode email folding: a provider email with a Kelvin sign does not create the account of an ADMIN_EMAILS address', async () => {
    const { result } = signIn({ email: KELVIN + adminEmail.slice(1), email_verified: true });
    expectRefused(await result, 'email-unsupported');

    // The address is still free: registering it mails a verification link, not an "already registered" notice.
    const before = app.mail.mails.length;
    expect((await app.request('POST', '/v1/auth/register', { body: { email: adminEmail, password: 'a perfectly fine passphrase' } })).status).to.equal(202);
    const mail = await app.mail.next(adminEmail, { after: before });
    expect(() => tokenFrom(mail), mail.subject).not.to.throw();
  });

  it('refuses other addresses sign-up would refuse (non-ASCII, no domain, surrounding spaces), whatever email_verified says', async () => {
    for (const email of [`ad\u00e9-${accounts}@example.com`, `nodomain-${accounts}`, ` spaced-${accounts}@example.com `]) {
      const { result } = signIn({ email, email_verified: true });
      expectRefused(await result, 'email-unsupported');
    }
  });

  it('takes the name of a new account from the provider without control characters (names never hold line breaks)', async () => {
    const { result } = signIn({ email: uniqueEmail('named'), email_verified: true, name: 'Grace\n\nHopper\u0007' });
    const landed = await result;
    const refreshed = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: landed.refreshCookie! } });
    expect(refreshed.body.user.name).to.equal('Grace Hopper');
  });

  it('still signs in an identity linked earlier (it is found by the provider subject), and forgets the unusable address', async () => {
    const email = uniqueEmail('kelly');
    const { login, result } = signIn({ email, email_verified: true });
    expect(Object.fromEntries((await result).outcome)).to.deep.equal({ provider: 'acme' });

    idp.accounts.set(login, { email: KELVIN + email.slice(1), email_verified: true });
    const again = await new Browser(app.baseUrl).signIn('acme', { login });
    expect(Object.fromEntries(again.outcome)).to.deep.equal({ provider: 'acme' });
    const refreshed = await app.request('POST', '/v1/auth/refresh', { headers: { cookie: again.refreshCookie! } });
    expect(refreshed.body.user.email).to.equal(email);
    expect((await identitiesOf(refreshed.body.accessToken))[0].email).to.equal(null);
  });
});
