import { expect } from 'chai';

/** What `failWith` needs of a reply: `TestServer.request` answers, and anything shaped like them. */
export interface ProblemReply {
  status: number;
  headers: Headers;
  body: any;
  text?: string;
}

/**
 * Asserts that a reply is the problem `code` with `status`, as `application/problem+json` (after oidc-provider's
 * `failWith`). Every failure message carries the body, so a wrong answer shows what came back instead.
 */
export function failWith(reply: ProblemReply, status: number, code: string, context?: string): void {
  const shown = reply.text ?? JSON.stringify(reply.body);
  const where = context ? `${context}: ` : '';
  expect(reply.status, `${where}status (body: ${shown.slice(0, 500)})`).to.equal(status);
  expect(reply.headers.get('content-type'), `${where}media type (body: ${shown.slice(0, 500)})`).to.match(/^application\/problem\+json/);
  expect(reply.body?.code, `${where}problem code (body: ${shown.slice(0, 500)})`).to.equal(code);
}

/** The error a promise rejects with (the test fails when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail('expected a rejection');
}
