#!/usr/bin/env node
/**
 * After `redocly build-docs --inlineBundle`: the page must load nothing from another host (/docs's CSP allows only
 * itself). The one thing Redoc 3 still loads from elsewhere is the logo of its "API docs by" badge, from its CDN, with
 * no option to turn it off; this replaces that URL with an empty inline image (the page template hides the badge).
 * It fails when the URL is no longer there (a new Redocly release: check the page again) or another of that CDN is.
 *
 *   node scripts/docs-offline.mjs build/docs.html
 */
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.argv[2] ?? 'build/docs.html';
const EMPTY_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E";
const LOGOS = ['https://cdn.redoc.ly/redoc/logo-mini-full.svg', 'https://cdn.redoc.ly/redoc/logo-mini.svg'];

let page = readFileSync(file, 'utf8');
for (const logo of LOGOS) {
  if (!page.includes(logo)) {
    console.error(`docs-offline: ${logo} is not in ${file} any more; check what the page loads and update this script`);
    process.exit(1);
  }
  page = page.split(logo).join(EMPTY_IMAGE);
}
// (The bundle also names icon sets on another CDN that this page never uses; the browser test of /docs checks that
// the page, opened and scrolled, requests nothing from another host.)
const left = page.match(/https:\/\/cdn\.redoc\.ly\/[^\s"'`)]*/g);
if (left) {
  console.error(`docs-offline: ${file} still loads from Redoc's CDN: ${[...new Set(left)].join(', ')}`);
  process.exit(1);
}
writeFileSync(file, page);
