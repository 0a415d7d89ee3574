import { request as httpRequest } from 'node:http';
import { expect } from 'chai';
import { TestServer } from '../helpers/server.js';

/** The policy the issue asks for, written out here so that a change to the server's shows up as a failure. */
const STRICT_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const PAGES = ['/verify-email', '/reset-password', '/oauth/complete', '/sign-in', '/accept-invitation'];

/** A GET with the path sent exactly as written (fetch would normalise `..` and friends away). */
function rawGet(baseUrl: string, path: string): Promise<{ status: number; contentType: string; body: string }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, contentType: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The src and href of every <script> and <link> of a page. */
function assetsOf(html: string): string[] {
  return [...html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"/gi)].map((match) => match[1]);
}

describe('hosted pages (verify-email, reset-password, oauth/complete, sign-in)', () => {
  let app: TestServer;
  before(async () => {
    app = await TestServer.start();
  });
  after(() => app.stop());

  const get = (path: string, init: RequestInit = {}) => fetch(app.baseUrl + path, { redirect: 'manual', ...init });

  function expectLockedDown(reply: Response, path: string) {
    expect(reply.headers.get('content-security-policy'), `${path} CSP`).to.equal(STRICT_CSP);
    expect(reply.headers.get('cache-control'), `${path} Cache-Control`).to.equal('no-store');
    expect(reply.headers.get('referrer-policy'), `${path} Referrer-Policy`).to.equal('no-referrer');
    expect(reply.headers.get('x-content-type-options'), `${path} nosniff`).to.equal('nosniff');
  }

  for (const path of PAGES) {
    it(`${path}: 200 text/html with the strict CSP, no inline script or style, labelled fields, live regions`, async () => {
      const reply = await get(path);
      expect(reply.status).to.equal(200);
      expect(reply.headers.get('content-type')).to.equal('text/html; charset=utf-8');
      expectLockedDown(reply, path);
      const html = await reply.text();

      expect(html).to.match(/^<!doctype html>/i);
      expect(html).to.match(/<html lang="en"/);
      expect(html).to.match(/<main>/);
      expect(html).to.match(/<title>[^<]+<\/title>/);
      expect(html).to.match(/aria-live="polite"/);
      expect(html).to.match(/role="alert"/);

      // No inline code: every <script> has a src and an empty body; no style elements or attributes, no handlers.
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
      expect(scripts, 'one script').to.have.length(1);
      for (const [, attributes, body] of scripts) {
        expect(attributes).to.match(/\bsrc="[^"]+"/);
        expect(body.trim(), 'inline script body').to.equal('');
      }
      expect(html).not.to.match(/<style\b/i);
      expect(html).not.to.match(/\sstyle\s*=/i);
      expect(html).not.to.match(/\son[a-z]+\s*=/i);
      expect(html).not.to.match(/javascript:/i);
      // Nothing from another host.
      expect(html).not.to.match(/(?:src|href|action)="(?:[a-z]+:)?\/\//i);

      // Every field has a label.
      for (const [, id] of html.matchAll(/<input\b[^>]*\bid="([^"]+)"/g)) {
        expect(html, `label for #${id}`).to.match(new RegExp(`<label for="${id}">`));
      }
    });

    it(`${path}: serves the same bytes whatever the query (nothing from the link is echoed)`, async () => {
      const plain = await (await get(path)).text();
      const withToken = await get(`${path}?token=s3cr3t-t0ken-<script>&provider=x&error=y`);
      expect(withToken.status).to.equal(200);
      const text = await withToken.text();
      expect(text).to.equal(plain);
      expect(text).not.to.contain('s3cr3t');
    });

    it(`${path}: its stylesheet and scripts (and what they import) load with the right types and the same headers`, async () => {
      const pageUrl = new URL(path, app.baseUrl);
      const html = await (await get(path)).text();
      const queue = assetsOf(html).map((asset) => new URL(asset, pageUrl));
      expect(queue.map((url) => url.pathname.split('.').pop())).to.have.members(['css', 'js']);
      const seen = new Set<string>();
      while (queue.length > 0) {
        const url = queue.shift()!;
        if (seen.has(url.href)) continue;
        seen.add(url.href);
        expect(url.origin, url.href).to.equal(app.baseUrl);
        const reply = await fetch(url);
        expect(reply.status, url.pathname).to.equal(200);
        expectLockedDown(reply, url.pathname);
        const body = await reply.text();
        if (url.pathname.endsWith('.css')) {
          expect(reply.headers.get('content-type'), url.pathname).to.equal('text/css; charset=utf-8');
          expect(body).not.to.match(/@import|url\(/i);
        } else {
          expect(reply.headers.get('content-type'), url.pathname).to.equal('text/javascript; charset=utf-8');
          expect(body).not.to.match(/\binnerHTML\b|\bouterHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function/);
          expect(body).not.to.match(/https?:\/\//);
          for (const [, specifier] of body.matchAll(/\bfrom\s+'([^']+)'/g)) queue.push(new URL(specifier, url));
        }
      }
      expect(seen.size, 'assets reached').to.be.at.least(3);
    });
  }

  it('answers HEAD for a page with its headers and no body', async () => {
    const reply = await get('/reset-password', { method: 'HEAD' });
    expect(reply.status).to.equal(200);
    expect(reply.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expectLockedDown(reply, 'HEAD /reset-password');
    expect(await reply.text()).to.equal('');
  });

  it('answers other methods on the page paths, and unknown assets, with a 404 problem', async () => {
    for (const [method, path] of [
      ['POST', '/verify-email'],
      ['POST', '/reset-password'],
      ['GET', '/pages'],
      ['GET', '/pages/'],
      ['GET', '/pages/nope.js'],
      ['GET', '/pages/common.js.map'],
      ['GET', '/pages/COMMON.JS'],
      ['GET', '/pages/verify-email.html'],
      ['GET', '/pages/pages.css/'],
      ['GET', '/verify-email/'],
      ['GET', '/verify-email.html'],
      ['GET', '/oauth'],
      ['GET', '/oauth/complete/x'],
      ['GET', '/pages/hasOwnProperty'],
      ['GET', '/__proto__'],
    ]) {
      const reply = await get(path, { method });
      expect([404, 405], `${method} ${path}`).to.include(reply.status);
      expect(reply.headers.get('content-type'), `${method} ${path}`).to.match(/^application\/problem\+json/);
    }
  });

  it('answers path traversal attempts with 404 and nothing of any file', async () => {
    for (const path of [
      '/pages/../package.json',
      '/pages/../../package.json',
      '/pages/..%2f..%2fpackage.json',
      '/pages/%2e%2e/%2e%2e/package.json',
      '/pages/%2e%2e%2f%2e%2e%2fsrc%2fapp.ts',
      '/pages/..%5c..%5cpackage.json',
      '/pages/..\\..\\package.json',
      '/pages//etc/passwd',
      '/pages/%2fetc%2fpasswd',
      '/pages/common.js/../../../package.json',
      '/pages/common.js%00.css',
      '/pages/./common.js',
      '/pages/../src/pages/common.js',
      '/oauth/../pages/../src/http/pages.ts',
      '/verify-email/../../package.json',
      '/pages/..%252f..%252fpackage.json',
    ]) {
      const reply = await rawGet(app.baseUrl, path);
      expect(reply.status, path).to.equal(404);
      expect(reply.contentType, path).to.match(/^application\/problem\+json/);
      expect(reply.body, path).not.to.match(/devDependencies|import |root:x:0/);
    }
  });
});
