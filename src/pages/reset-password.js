// Sets a new password with the link of the password-reset mail: POST {token, password, unlinkIdentities} to
// resetPassword.
import { api, clearProblem, fieldErrors, setStatus, showProblem, takeToken } from './common.js';

const PASSWORD = '/body/password';

const form = document.getElementById('reset-form');
const password = document.getElementById('password');
const confirm = document.getElementById('confirm');
const unlink = document.getElementById('unlink');
const submit = document.getElementById('submit');

function setFieldError(input, messages) {
  const target = document.getElementById(`${input.id}-error`);
  target.textContent = messages.join(' ');
  if (messages.length > 0) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

function clearErrors() {
  clearProblem();
  setFieldError(password, []);
  setFieldError(confirm, []);
}

function main() {
  const token = takeToken();
  if (!token) return;
  form.hidden = false;
  password.focus();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    setStatus('');
    if (!password.value) {
      setFieldError(password, ['Enter a new password.']);
      password.focus();
      return;
    }
    // The policy, as the server applies it (it has the last word, and the list of common passwords).
    const length = [...password.value.normalize('NFKC')].length;
    if (length < 8 || length > 256) {
      setFieldError(password, [length < 8 ? 'Use at least 8 characters.' : 'Use at most 256 characters.']);
      password.focus();
      return;
    }
    if (password.value !== confirm.value) {
      setFieldError(confirm, ['The two passwords are not the same.']);
      confirm.focus();
      return;
    }
    submit.disabled = true;
    setStatus('Setting your new password…', { pending: true });
    const reply = await api('v1/auth/password/reset', { body: { token, password: password.value, unlinkIdentities: unlink.checked } });
    submit.disabled = false;
    if (reply.ok) {
      form.reset();
      form.hidden = true;
      setStatus(['Your new password is set.', 'Every device was signed out; sign in with the new password.']);
      return;
    }
    setStatus('');
    const problem = reply.problem;
    const linkIsDead = problem.code === 'invalid-reset-token' || fieldErrors(problem, '/body/token').length > 0;
    if (linkIsDead) {
      form.reset();
      form.hidden = true;
      showProblem(problem, { advice: 'Ask for a new password-reset mail, and use the newest link.' });
      return;
    }
    const about = fieldErrors(problem, PASSWORD);
    setFieldError(password, about);
    // What is said next to the field is not said again in the alert.
    showProblem(about.includes(problem.detail) ? { ...problem, detail: undefined } : problem, { skipPointers: about.length > 0 ? [PASSWORD] : [] });
    if (about.length > 0) {
      password.focus();
      password.select();
    }
  });
}

main();
