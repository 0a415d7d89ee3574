// Shared by the hosted pages: calls to the public API, and the two live regions every page has
// (#status for progress and success, #problem for errors). Text only ever goes in as text, never as HTML.

/** The API's base: the page's folder, told by <html data-root>, so the pages also work under a path prefix. */
const root = new URL(document.documentElement.dataset.root || './', window.location.href);

/**
 * Calls an operation of the public API (`path` is relative, like `v1/auth/verify-email`). Resolves to
 * `{ ok: true, status, data }` or `{ ok: false, status, problem }`, where `problem` is the RFC 9457 problem the
 * API answered (or one made up here when the answer was not one, or nothing answered).
 */
export async function api(path, { method = 'POST', body, token } = {}) {
  const headers = { accept: 'application/json, application/problem+json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(new URL(path, root), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch {
    return {
      ok: false,
      status: 0,
      problem: { title: 'The server could not be reached', detail: 'Check your connection, then reload this page to try again.' },
    };
  }
  let data = null;
  if (/json/i.test(response.headers.get('content-type') || '')) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (response.ok) return { ok: true, status: response.status, data };
  const problem =
    data && typeof data === 'object' && typeof data.title === 'string'
      ? data
      : { title: 'Something went wrong', detail: `The server answered with status ${response.status}. Try again later.` };
  return { ok: false, status: response.status, problem };
}

/**
 * The `token` of a mailed link, taken out of the address bar; when the address has none, says so on the page and
 * returns null. The token then lives in the page's memory only.
 */
export function takeToken() {
  const token = takeQuery().get('token');
  if (!token) {
    showProblem({
      title: 'This link is incomplete',
      detail: 'The address has no token. Open the link from your mail again, or copy all of it into the address bar.',
    });
  }
  return token;
}

/** Reads parameters from the address, then removes the query from the address bar (and from the history). */
export function takeQuery() {
  const params = new URLSearchParams(window.location.search);
  if (window.location.search) {
    window.history.replaceState(null, '', window.location.pathname + window.location.hash);
  }
  return params;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/** Puts one message, or several paragraphs, in the status region. `pending` styles it as work in progress. */
export function setStatus(message, { pending = false } = {}) {
  const region = document.getElementById('status');
  region.classList.toggle('pending', pending);
  const lines = Array.isArray(message) ? message : [message];
  region.textContent = lines.filter(Boolean).join(' ');
}

/**
 * Shows a problem in the alert region: its title, its detail, and the detail of each entry of `errors` (other
 * than those a page shows next to their field: `skipPointers`). `advice` is a sentence of this page's own.
 */
export function showProblem(problem, { advice, skipPointers = [] } = {}) {
  const region = document.getElementById('problem');
  const nodes = [element('p', problem.title, 'problem-title')];
  const details = [];
  if (typeof problem.detail === 'string' && problem.detail !== problem.title) details.push(problem.detail);
  const errors = Array.isArray(problem.errors) ? problem.errors : [];
  const listed = errors
    .filter((error) => error && typeof error.detail === 'string' && !skipPointers.includes(error.pointer))
    .map((error) => error.detail)
    .filter((detail) => !details.includes(detail));
  for (const detail of details) nodes.push(element('p', detail));
  if (listed.length > 0) {
    const list = element('ul');
    list.append(...listed.map((detail) => element('li', detail)));
    nodes.push(list);
  }
  if (advice) nodes.push(element('p', advice));
  region.replaceChildren(...nodes);
}

export function clearProblem() {
  document.getElementById('problem').replaceChildren();
}

/** The field errors of a problem for one request field, like `/body/password`. */
export function fieldErrors(problem, pointer) {
  const errors = Array.isArray(problem.errors) ? problem.errors : [];
  return errors.filter((error) => error && error.pointer === pointer && typeof error.detail === 'string').map((error) => error.detail);
}

/** What each kind of code is, for the hint above the code field. */
const MFA_METHODS = {
  totp: 'the 6-digit code from your authenticator app',
  email: 'the 6-digit code we just mailed you',
  'recovery-code': 'one of your recovery codes',
};

/**
 * The second-factor step a sign-in page shows when the answer is an MFA challenge (#mfa-form, #code, #mfa-submit):
 * sends the code to verifyMfa, hands the access token to `onSignedIn`, and `onChallengeEnded(problem)` when the
 * challenge can no longer be completed.
 */
export function askForSecondFactor({ challengeId, methods, setHeading, onSignedIn, onChallengeEnded }) {
  const form = document.getElementById('mfa-form');
  const codeInput = document.getElementById('code');
  const submit = document.getElementById('mfa-submit');
  setHeading('Enter your sign-in code');
  const kinds = methods.filter((method) => Object.hasOwn(MFA_METHODS, method)).map((method) => MFA_METHODS[method]);
  form.querySelector('#mfa-hint').textContent =
    kinds.length > 0 ? `Your account asks for a second step. Enter ${kinds.join(', or ')}.` : 'Your account asks for a second step. Enter your code.';
  if (methods.length > 0 && methods.every((method) => method !== 'recovery-code')) codeInput.setAttribute('inputmode', 'numeric');
  form.hidden = false;
  codeInput.focus();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem();
    const code = codeInput.value.trim();
    if (!code) {
      showProblem({ title: 'Enter the code first.' });
      codeInput.focus();
      return;
    }
    submit.disabled = true;
    setStatus('Checking the code…', { pending: true });
    const reply = await api('v1/auth/mfa/verify', { body: { challengeId, code } });
    submit.disabled = false;
    if (reply.ok) {
      form.hidden = true;
      await onSignedIn(reply.data.accessToken);
      return;
    }
    setStatus('');
    if (reply.problem.code === 'mfa-challenge-invalid') {
      form.hidden = true;
      onChallengeEnded(reply.problem);
      return;
    }
    showProblem(reply.problem);
    codeInput.setAttribute('aria-invalid', 'true');
    codeInput.focus();
    codeInput.select();
  });
}
