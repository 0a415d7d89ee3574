// Where a social sign-in ends (finishOAuth redirects here): `?provider=<name>` with the refresh cookie set,
// `?error=<code>`, or `?mfaChallenge=<id>&methods=<list>` when the account has a second factor.
import { api, askForSecondFactor, setStatus, showProblem } from './common.js';

/** A sentence for each error code finishOAuth and startOAuth redirect with. */
const ERRORS = {
  'access-denied': 'The sign-in was cancelled at the provider, or the provider did not allow it.',
  'invalid-state': 'This sign-in expired or was started in another browser. Start it again from the beginning.',
  'provider-unavailable': 'The sign-in provider could not be reached. Try again in a few minutes.',
  'provider-error': 'The sign-in provider answered with an error. Try again, or sign in another way.',
  'email-not-verified':
    'The provider did not confirm that your email address is verified, so it cannot be used to sign in here. Verify the address with the provider, or sign in with your email and password.',
  'email-unsupported':
    'The provider gave an email address this service does not accept (only plain ASCII addresses are), so it cannot be used to sign in here. Sign in with another provider, or with an email and password.',
  'identity-in-use':
    'This provider account is already linked to another account here, or your account already has a different one from this provider.',
  'sign-in-required': 'Sign in first: a provider can only be linked to the account you are signed in to.',
  'link-expired': 'This request to link a provider has expired or was already used. Start linking again from your account.',
  'account-disabled': 'This account is disabled. Contact the administrators if you think this is a mistake.',
};


const heading = document.getElementById('heading');

function setHeading(text) {
  heading.textContent = text;
  document.title = `${text} · Pulse Auth`;
}

function failed(sentence, code) {
  setHeading('Sign-in did not complete');
  setStatus('');
  showProblem({ title: sentence, detail: code ? `Error code: ${code}.` : undefined });
}

/** Reads the signed-in user with the access token, and greets them. */
async function greet(accessToken, lines = []) {
  const me = await api('v1/me', { method: 'GET', token: accessToken });
  if (!me.ok) {
    setHeading('Sign-in did not complete');
    setStatus('');
    showProblem(me.problem);
    return;
  }
  const { email, name } = me.data;
  setHeading(name ? `Welcome, ${name}` : 'Welcome');
  setStatus([`You are signed in as ${email}.`, ...lines]);
}

async function completeWithCookie(provider, linked) {
  setStatus('Finishing your sign-in…', { pending: true });
  const reply = await api('v1/auth/refresh', { body: {} });
  if (!reply.ok) {
    setHeading('Sign-in did not complete');
    setStatus('');
    showProblem(reply.problem, { advice: 'Start the sign-in again.' });
    return;
  }
  await greet(reply.data.accessToken, linked ? [`Your ${provider} account is now linked to it.`] : []);
}


function main() {
  // Nothing secret is in this address (the refresh token is in an HttpOnly cookie), so it stays as it is: a reload
  // tries again.
  const params = new URLSearchParams(window.location.search);
  const error = params.get('error');
  const challengeId = params.get('mfaChallenge');
  const provider = params.get('provider');
  if (error) {
    failed(Object.hasOwn(ERRORS, error) ? ERRORS[error] : 'The sign-in failed. Try again.', error);
  } else if (challengeId) {
    askForSecondFactor({
      challengeId,
      methods: (params.get('methods') || '').split(',').filter(Boolean),
      setHeading,
      onSignedIn: (accessToken) => greet(accessToken),
      onChallengeEnded: (problem) => {
        setHeading('Sign-in did not complete');
        showProblem(problem, { advice: 'Start the sign-in again.' });
      },
    });
  } else if (provider) {
    completeWithCookie(provider, params.get('linked') === 'true');
  } else {
    failed('There is no sign-in to finish here: this page is where a sign-in with a provider ends. Start the sign-in from the beginning.');
  }
}

main();
