/**
 * scripts/bootstrap-grafana on the paths a machine can take without Grafana's repository (this one reaches only
 * the Debian archive and npm): it says in one line why Grafana is skipped and exits 0, trusts no key but the
 * pinned one, and does nothing when Grafana is there. Installing from the real repository is not tested here.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../stack/process';

const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'bootstrap-grafana');
const SOURCES = '/etc/apt/sources.list.d/grafana.list';
const PINNED = /^GRAFANA_KEY_FINGERPRINT=([0-9A-F]{40})$/m.exec(fs.readFileSync(SCRIPT, 'utf8'))![1]!;

/** Runs the script asynchronously: the key server of a test answers from this same process. */
function bootstrap(env: Record<string, string>): Promise<{ status: number; lines: string[]; stderr: string }> {
  return new Promise((resolve) =>
    execFile(SCRIPT, { env: { ...process.env, ...env }, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ status: err ? Number(err.code) : 0, lines: stdout.split('\n').filter(Boolean), stderr }),
    ),
  );
}

let dir: string;
const sourcesBefore = fs.existsSync(SOURCES);
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bootstrap-grafana-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('when Grafana’s repository does not answer, then it says so in one line, exits 0 and adds no APT source', async () => {
  const url = `http://127.0.0.1:${await freePort()}`; // nothing listens there
  const r = await bootstrap({ GRAFANA_APT_URL: url });
  expect(r.status).toBe(0);
  expect(r.lines).toHaveLength(1);
  expect(r.lines[0]).toMatch(
    new RegExp(
      `^bootstrap: grafana skipped: its APT repository ${url} does not answer \\(curl: \\(7\\) .+\\) \\(make local runs without it`,
    ),
  );
  expect(fs.existsSync(SOURCES)).toBe(sourcesBefore);
});

test('when the repository serves a key other than the pinned one, then it trusts nothing, naming both fingerprints', async () => {
  const home = path.join(dir, 'gnupg');
  fs.mkdirSync(home, { mode: 0o700 });
  const gpg = (...args: string[]) => execFileSync('gpg', ['--homedir', home, '--batch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  gpg('--passphrase', '', '--quick-gen-key', 'Not Grafana <not-grafana@example.invalid>', 'ed25519', 'sign', 'never');
  const key = gpg('--armor', '--export');
  const other = /^fpr:+([0-9A-F]{40}):/m.exec(gpg('--with-colons', '--list-keys').toString())![1]!;
  const server = http.createServer((req, res) => res.writeHead(req.url === '/gpg.key' ? 200 : 404).end(req.url === '/gpg.key' ? key : ''));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const r = await bootstrap({ GRAFANA_APT_URL: url });
    expect(r.status).toBe(0);
    expect(r.lines).toEqual([
      `bootstrap: grafana skipped: the key at ${url}/gpg.key is not the pinned ${PINNED} (found: ${other}) (make local runs without it; docs/observability.md#grafana-in-make-local)`,
    ]);
    expect(fs.existsSync(SOURCES)).toBe(sourcesBefore);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('when a grafana binary is on PATH, then it says Grafana is present and asks no repository', async () => {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'grafana'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const r = await bootstrap({ PATH: `${bin}:${process.env.PATH}`, GRAFANA_APT_URL: 'http://127.0.0.1:1' });
  expect(r).toMatchObject({ status: 0, lines: ['bootstrap: grafana present'] });
});
