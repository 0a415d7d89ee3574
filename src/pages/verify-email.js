// Confirms the email address of the link in the verification mail: POST {token} to verifyEmail.
import { api, setStatus, showProblem, takeQuery } from './common.js';

async function main() {
  const token = takeQuery().get('token');
  if (!token) {
    showProblem({
      title: 'This link is incomplete',
      detail: 'The address has no token. Open the link from your mail again, or copy all of it into the address bar.',
    });
    return;
  }
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
