// Where the link of a passwordless sign-in mail lands (requestEmailSignIn): `?token=…`. Opening the link (as mail
// scanners do) spends nothing: the token goes to finishEmailSignIn only when the person presses "Sign in". Then it
// ends like /oauth/complete: the refresh cookie is set, the user is greeted, or the second factor is asked for.
import { api, askForSecondFactor, clearProblem, setStatus, showProblem, takeToken } from './common.js';


const heading = document.getElementById('heading');
const form = document.getElementById('sign-in-form');
const submit = document.getElementById('submit');

function setHeading(text) {
  heading.textContent = text;
  document.title = `${text} · Pulse Auth`;
}

function failed(problem) {
  setHeading('Sign-in did not complete');
  setStatus('');
  showProblem(problem, {
    advice: problem.code === 'invalid-email-sign-in' ? 'Ask for a new sign-in mail where you started; only the newest one works.' : undefined,
  });
}

/** Reads the signed-in user with the access token, and greets them. */
async function greet(accessToken) {
  const me = await api('v1/me', { method: 'GET', token: accessToken });
  if (!me.ok) return failed(me.problem);
  const { email, name } = me.data;
  setHeading(name ? `Welcome, ${name}` : 'Welcome');
  setStatus(`You are signed in as ${email}.`);
}


function main() {
  const token = takeToken();
  if (!token) return;
  form.hidden = false;
  submit.focus();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem();
    submit.disabled = true;
    setStatus('Signing you in…', { pending: true });
    // The refresh token goes to the HttpOnly cookie (the default delivery); the access token stays in memory.
    const reply = await api('v1/auth/email-sign-in/verify', { body: { token } });
    form.hidden = true;
    if (!reply.ok) return failed(reply.problem);
    if (reply.data.outcome === 'mfa-required') {
      setStatus('');
      askForSecondFactor({ challengeId: reply.data.challengeId, methods: reply.data.methods || [], setHeading, onSignedIn: greet, onChallengeEnded: failed });
      return;
    }
    await greet(reply.data.accessToken);
  });
}

main();
