/**
 * The Dockerfile and the systemd unit cannot be run on the machines this is developed on (no base image can be
 * pulled, no systemd as PID 1), so this reads them and checks the properties a deployment relies on.
 * .ci/prove-build runs the build and install steps they use.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { SHUTDOWN_GRACE_MS } from '../../src/server.js';

/**
 * The V8 flags production starts node with, from `npm start` (package.json): the Dockerfile and the systemd unit must
 * start it the same way (the README's Performance section says why the heap grows by half, not fourfold).
 */
const PRODUCTION_NODE_FLAGS = /^exec node (.*)dist\/server\.js$/.exec(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).scripts.start)![1].split(' ').filter(Boolean);

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions: comments dropped, continuation lines joined. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: line.slice(keyword.length).trim() };
    });
}

/** [section, key, value] of every setting of a systemd unit, in order (a key may repeat). */
function unitSettings(text: string): [string, string, string][] {
  const settings: [string, string, string][] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1];
    else {
      const at = line.indexOf('=');
      settings.push([section, line.slice(0, at).trim(), line.slice(at + 1).trim()]);
    }
  }
  return settings;
}

const floorMajor = Number(/>=\s*(\d+)/.exec(JSON.parse(read('package.json')).engines.node)![1]);

describe('deployment files', () => {
  describe('Dockerfile', () => {
    const all = instructions(read('Dockerfile'));
    const froms = all.map((instruction, index) => ({ ...instruction, index })).filter((instruction) => instruction.keyword === 'FROM');
    const runtime = all.slice(froms.at(-1)!.index);
    const last = (keyword: string) => runtime.filter((instruction) => instruction.keyword === keyword).at(-1);

    it('builds in one stage and runs in another, every base image pinned to an exact Node version at or above the floor', () => {
      expect(froms.length).to.be.at.least(2);
      for (const from of froms) {
        const image = from.args.split(/\s+/)[0];
        const tag = /^node:(\d+)\.(\d+)\.(\d+)(-[a-z0-9-]+)?$/.exec(image);
        expect(tag, `${image} is not pinned to major.minor.patch`).not.to.equal(null);
        expect(Number(tag![1]), image).to.be.at.least(floorMajor);
      }
      expect(froms[0].args).to.match(/\sAS\s+build$/i);
      expect(all.some((instruction) => instruction.keyword === 'RUN' && /npm run build/.test(instruction.args))).to.equal(true);
    });

    it('installs only production dependencies in the runtime stage and copies the built output into it', () => {
      expect(runtime.some((instruction) => instruction.keyword === 'RUN' && /npm ci\b.*--omit=dev/.test(instruction.args))).to.equal(true);
      const copied = runtime.filter((instruction) => instruction.keyword === 'COPY' && instruction.args.startsWith('--from=build')).map((instruction) => instruction.args.split(/\s+/)[1]);
      expect(copied).to.include.members(['/app/dist', '/app/build', '/app/bin', '/app/openapi/openapi.yaml']);
    });

    it('runs as a user that is not root, with a data volume', () => {
      const user = last('USER');
      expect(user, 'USER').not.to.equal(undefined);
      expect(user!.args).not.to.match(/^(root|0)(:|$)/);
      expect(last('VOLUME')?.args).to.match(/\/data/);
      expect(runtime.find((instruction) => instruction.keyword === 'ENV')?.args).to.match(/DATABASE_URL=file:\/data\//);
    });

    it('checks /health, and its command is node itself (no npm, no shell), in production mode', () => {
      expect(last('HEALTHCHECK')?.args).to.match(/CMD .*\/health/);
      const cmd = JSON.parse(last('CMD')!.args) as string[];
      expect(cmd).to.deep.equal(['node', ...PRODUCTION_NODE_FLAGS, 'dist/server.js']);
      expect(all.some((instruction) => instruction.keyword === 'ENTRYPOINT')).to.equal(false);
      expect(runtime.find((instruction) => instruction.keyword === 'ENV')?.args).to.match(/NODE_ENV=production/);
    });

    it('keeps installs, build output, local data and secrets out of the build context (.dockerignore)', () => {
      const ignored = read('.dockerignore').split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
      expect(ignored).to.include.members(['node_modules', 'dist', 'build', 'data', '.env', '.git']);
    });
  });

  describe('systemd unit (deploy/pulse-auth.service)', () => {
    const settings = unitSettings(read('deploy/pulse-auth.service'));
    const value = (key: string) => settings.filter(([section, name]) => section === 'Service' && name === key).map(([, , v]) => v);

    it('starts node dist/server.js directly, as an unprivileged user, in production mode', () => {
      expect(value('ExecStart')).to.deep.equal([['/usr/bin/node', ...PRODUCTION_NODE_FLAGS, 'dist/server.js'].join(' ')]);
      expect(value('User')[0]).to.be.a('string').and.not.equal('root');
      expect(value('Environment')).to.include('NODE_ENV=production');
    });

    it('stops with SIGTERM and waits longer than the server gives its requests; a configuration error is not restarted', () => {
      expect(value('KillSignal')).to.deep.equal(['SIGTERM']);
      expect(Number(value('TimeoutStopSec')[0]) * 1000).to.be.greaterThan(SHUTDOWN_GRACE_MS);
      expect(value('Restart')).to.deep.equal(['on-failure']);
      expect(value('RestartPreventExitStatus')).to.deep.equal(['78']);
    });

    it('hands the secrets over as files (*_FILE), not in the environment', () => {
      const environment = value('Environment').join(' ');
      for (const key of ['DATABASE_URL', 'SMTP_URL', 'METRICS_TOKEN', 'WEBHOOK_SECRET_KEY']) {
        expect(environment).to.contain(`${key}_FILE=%d/`);
        expect(environment).not.to.match(new RegExp(`(^|\\s)${key}=`));
      }
      expect(value('LoadCredential')).to.have.length(4);
    });
  });
});
