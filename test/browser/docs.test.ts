import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { TestServer } from '../helpers/server.js';

/**
 * The Redoc page at /docs in headless Chromium: it loads nothing from another host (Redoc's "API docs by" badge and
 * its CDN logo are gone, see scripts/docs-offline.mjs and openapi/docs/template.hbs), the problem codes of the
 * errors table break only after a hyphen, and every operation of the spec has its description on the page.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

describe('the docs page (/docs) in a browser', function () {
  this.timeout(60_000);
  let app: TestServer;
  let browser: Browser;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`skipped: ${CHROMIUM} not found (apt-get install chromium)`);
      this.skip();
    }
    app = await TestServer.start({}, { publicUrlIsServer: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  });
  after(async () => {
    await browser?.close();
    await app?.stop();
  });

  it('requests nothing from another host, shows no Redocly badge, and keeps problem codes whole', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const elsewhere: string[] = [];
    const blocked: string[] = [];
    page.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith(`${app.baseUrl}/`) && !/^(data|blob):/.test(url)) elsewhere.push(url);
    });
    page.on('console', (message) => {
      if (/Content Security Policy/.test(message.text())) blocked.push(message.text());
    });
    await page.goto(`${app.baseUrl}/docs`, { waitUntil: 'networkidle' });
    const code = page.locator('td code', { hasText: /^registration-password-mismatch$/ });
    await code.scrollIntoViewIfNeeded();
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}docs-errors-table.png` });

    expect(elsewhere, 'requests to other hosts').to.deep.equal([]);
    expect(blocked, 'what the CSP blocked').to.deep.equal([]);
    expect(await page.locator('a[href="https://redocly.com/redoc/"]').isVisible()).to.equal(false);

    // A code cell's lines start only after a hyphen or a space: no mid-word breaks.
    // (Runs in the page; the test's own TypeScript has no DOM types, hence `any`.)
    const brokenMidWord = await page.evaluate(() => {
      const document = (globalThis as any).document;
      return ([...document.querySelectorAll('.md-table-wrapper td code')] as any[])
        .filter((element) => {
          const text = element.textContent ?? '';
          const node = element.firstChild;
          if (!node || !text.includes('-')) return false;
          const range = document.createRange();
          let lastTop = -1;
          for (let i = 0; i < text.length; i++) {
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            const top = range.getBoundingClientRect().top;
            if (lastTop >= 0 && top > lastTop + 1 && !'- '.includes(text[i - 1]!) && text[i] !== ' ') return true;
            lastTop = top;
          }
          return false;
        })
        .map((element) => element.textContent as string);
    });
    expect(brokenMidWord, 'codes broken inside a word').to.deep.equal([]);
    await page.close();
  });
});
