// Where the link of an invitation mail lands (createInvitation): `?token=…`. Opening it (as mail scanners do)
// spends nothing: the person signs in if they are not (the refresh cookie of an earlier sign-in counts), then the
// token goes to acceptInvitation only when they press "Accept the invitation".
import { api, askForSecondFactor, clearProblem, setStatus, showProblem, takeToken } from './common.js';

const heading = document.getElementById('heading');
const signInForm = document.getElementById('sign-in-form');
const email = document.getElementById('email');
const password = document.getElementById('password');
const signInButton = document.getElementById('sign-in');
const acceptForm = document.getElementById('accept-form');
const acceptHint = document.getElementById('accept-hint');
const acceptButton = document.getElementById('accept');

function setHeading(text) {
  heading.textContent = text;
  document.title = `${text} · Pulse Auth`;
}

const ADVICE = {
  'invitation-email-mismatch': 'Sign in below with the account of the invited address (or create one with that address first).',
  'invitation-expired': 'Ask the person who invited you for a new invitation.',
  'invitation-invalid': 'If you were invited again, use the newest invitation mail.',
  'invitation-used': 'You may already be a member: open the app.',
  'already-a-member': 'Open the app: the organization is there.',
};

function askToSignIn(token, message) {
  setHeading('Sign in to accept the invitation');
  setStatus(message || '');
  acceptForm.hidden = true;
  signInForm.hidden = false;
  email.focus();
  signInForm.onsubmit = async (event) => {
    event.preventDefault();
    clearProblem();
    if (!email.value || !password.value) {
      showProblem({ title: 'Enter your email and password.' });
      return;
    }
    signInButton.disabled = true;
    setStatus('Signing you in…', { pending: true });
    // Cookie delivery (the default): the refresh token goes to the HttpOnly cookie, the access token stays here.
    const reply = await api('v1/auth/login', { body: { email: email.value, password: password.value } });
    signInButton.disabled = false;
    setStatus('');
    if (!reply.ok) {
      showProblem(reply.problem);
      password.select();
      return;
    }
    signInForm.hidden = true;
    password.value = '';
    if (reply.data.outcome === 'mfa-required') {
      askForSecondFactor({
        challengeId: reply.data.challengeId,
        methods: reply.data.methods || [],
        setHeading,
        onSignedIn: (accessToken) => offerToAccept(token, accessToken),
        onChallengeEnded: (problem) => {
          showProblem(problem);
          askToSignIn(token);
        },
      });
      return;
    }
    await offerToAccept(token, reply.data.accessToken);
  };
}

async function offerToAccept(token, accessToken) {
  const me = await api('v1/me', { method: 'GET', token: accessToken });
  if (!me.ok) return askToSignIn(token);
  setHeading('Accept the invitation');
  setStatus('');
  acceptHint.textContent = `You are signed in as ${me.data.email}. Press the button to join the organization that invited you.`;
  acceptForm.hidden = false;
  acceptButton.focus();
  acceptForm.onsubmit = async (event) => {
    event.preventDefault();
    clearProblem();
    acceptButton.disabled = true;
    setStatus('Accepting the invitation…', { pending: true });
    const reply = await api('v1/invitations/accept', { body: { token }, token: accessToken });
    acceptButton.disabled = false;
    if (reply.ok) {
      acceptForm.hidden = true;
      setHeading(`Welcome to ${reply.data.name}`);
      setStatus(`You joined ${reply.data.name} as ${reply.data.role}.`);
      return;
    }
    setStatus('');
    showProblem(reply.problem, { advice: ADVICE[reply.problem.code] });
    if (reply.problem.code === 'invitation-email-mismatch') askToSignIn(token);
    else acceptForm.hidden = true;
  };
}

async function main() {
  const token = takeToken();
  if (!token) return;
  // Signed in on this site already? The refresh cookie says so (and gives a fresh access token).
  setStatus('Checking whether you are signed in…', { pending: true });
  const refreshed = await api('v1/auth/refresh', { body: {} });
  if (refreshed.ok && refreshed.data.accessToken) return offerToAccept(token, refreshed.data.accessToken);
  askToSignIn(token);
}

main();
