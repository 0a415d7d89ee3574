// Confirms the email address of the link in the verification mail: POST {token} to verifyEmail.
import { api, setStatus, showProblem, takeToken } from './common.js';

async function main() {
  const token = takeToken();
  if (!token) return;
  setStatus('Confirming your email address…', { pending: true });
  const reply = await api('v1/auth/verify-email', { body: { token } });
  if (reply.ok) {
    const email = reply.data && typeof reply.data.email === 'string' ? reply.data.email : '';
    setStatus(['Your email is confirmed; you can sign in now.', email && `Your account is ${email}.`]);
    return;
  }
  setStatus('');
  showProblem(reply.problem, {
    advice:
      reply.problem.code === 'invalid-verification-token'
        ? 'If you already confirmed your address, sign in. Otherwise, ask for a new verification mail where you signed up.'
        : undefined,
  });
}

main();
