// Where the link of a passwordless sign-in mail lands (requestEmailSignIn): `?token=…`. Opening the link (as mail
// scanners do) spends nothing: the token goes to finishEmailSignIn only when the person presses "Sign in". Then it
// ends like /oauth/complete: the refresh cookie is set, the user is greeted, or the second factor is asked for.
import { api, clearProblem, setStatus, showProblem, takeToken } from './common.js';

/** What each kind of code is, for the hint above the code field. */
const METHODS = {
  totp: 'the 6-digit code from your authenticator app',
  email: 'the 6-digit code we just mailed you',
  'recovery-code': 'one of your recovery codes',
};

const heading = document.getElementById('heading');
const form = document.getElementById('sign-in-form');
const submit = document.getElementById('submit');
const mfaForm = document.getElementById('mfa-form');
const codeInput = document.getElementById('code');
const mfaSubmit = document.getElementById('mfa-submit');

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

function askForCode(challengeId, methods) {
  setHeading('Enter your sign-in code');
  const kinds = methods.filter((method) => Object.hasOwn(METHODS, method)).map((method) => METHODS[method]);
  mfaForm.querySelector('#mfa-hint').textContent =
    kinds.length > 0 ? `Your account asks for a second step. Enter ${kinds.join(', or ')}.` : 'Your account asks for a second step. Enter your code.';
  if (methods.length > 0 && methods.every((method) => method !== 'recovery-code')) codeInput.setAttribute('inputmode', 'numeric');
  mfaForm.hidden = false;
  codeInput.focus();

  mfaForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem();
    const code = codeInput.value.trim();
    if (!code) {
      showProblem({ title: 'Enter the code first.' });
      codeInput.focus();
      return;
    }
    mfaSubmit.disabled = true;
    setStatus('Checking the code…', { pending: true });
    const reply = await api('v1/auth/mfa/verify', { body: { challengeId, code } });
    mfaSubmit.disabled = false;
    if (reply.ok) {
      mfaForm.hidden = true;
      await greet(reply.data.accessToken);
      return;
    }
    setStatus('');
    if (reply.problem.code === 'mfa-challenge-invalid') {
      mfaForm.hidden = true;
      failed(reply.problem);
      return;
    }
    showProblem(reply.problem);
    codeInput.setAttribute('aria-invalid', 'true');
    codeInput.focus();
    codeInput.select();
  });
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
      askForCode(reply.data.challengeId, reply.data.methods || []);
      return;
    }
    await greet(reply.data.accessToken);
  });
}

main();
