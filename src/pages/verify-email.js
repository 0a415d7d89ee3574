// Confirms the email address of the link in the verification mail: POST {token, password} to verifyEmail, only
// when the person presses the button. Opening the link (as mail scanners do) spends nothing and creates nothing.
import { api, clearProblem, fieldErrors, setStatus, showProblem, takeToken } from './common.js';

const PASSWORD = '/body/password';

const form = document.getElementById('verify-form');
const password = document.getElementById('password');
const passwordError = document.getElementById('password-error');
const submit = document.getElementById('submit');

function setPasswordError(messages) {
  passwordError.textContent = messages.join(' ');
  if (messages.length > 0) password.setAttribute('aria-invalid', 'true');
  else password.removeAttribute('aria-invalid');
}

function main() {
  const token = takeToken();
  if (!token) return;
  form.hidden = false;
  password.focus();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem();
    setPasswordError([]);
    if (!password.value) {
      setPasswordError(['Enter the password you chose when you signed up.']);
      password.focus();
      return;
    }
    submit.disabled = true;
    setStatus('Confirming your email address…', { pending: true });
    const reply = await api('v1/auth/verify-email', { body: { token, password: password.value } });
    submit.disabled = false;
    if (reply.ok) {
      form.reset();
      form.hidden = true;
      const email = reply.data && typeof reply.data.email === 'string' ? reply.data.email : '';
      setStatus(['Your email is confirmed; you can sign in now.', email && `Your account is ${email}.`]);
      return;
    }
    setStatus('');
    const problem = reply.problem;
    if (problem.code === 'registration-password-mismatch') {
      setPasswordError(fieldErrors(problem, PASSWORD));
      showProblem({ ...problem, errors: undefined }, {
        advice: 'If you signed up more than once, only the newest sign-up counts: use its password, or sign up again.',
      });
      password.focus();
      password.select();
      return;
    }
    form.reset();
    form.hidden = true;
    showProblem(problem, {
      advice:
        problem.code === 'invalid-verification-token'
          ? 'If you already confirmed your address, sign in. Otherwise, ask for a new verification mail where you signed up.'
          : undefined,
    });
  });
}

main();
