/**
 * `make pin-images` against a real registry (Debian's docker-registry, distribution 2.8) on loopback,
 * holding images pushed from the local Docker engine and a manifest list PUT through the API.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, createSign, randomBytes, X509Certificate } from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, httpOk, requireExecutable, Running, startAndAwait } from '../../stack/process';

const ROOT = path.resolve(__dirname, '../../..');
const MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
const MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

let dir: string;
let registry: Running;
let host: string;
let docker: string;
/** Digests as the registry knows them. */
const digests: Record<string, string> = {};

async function manifestOf(repoTag: string, accept = MANIFEST_V2) {
  const [repo, tag] = repoTag.split(':');
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: accept } });
  return { digest: res.headers.get('docker-content-digest') ?? '', size: Number(res.headers.get('content-length')) };
}

/**
 * Debian's docker-registry on `addr`, storing under `dir`/data, with `extra` lines of configuration (e.g. auth);
 * its config and log are `dir`/`file`.yml and .log.
 */
function startRegistry(name: string, file: string, addr: string, extra: string[], ready: () => Promise<boolean>): Promise<Running> {
  const config = path.join(dir, `${file}.yml`);
  fs.writeFileSync(
    config,
    [
      'version: 0.1',
      'log: {level: warn}',
      'storage:',
      `  filesystem: {rootdirectory: ${path.join(dir, 'data')}}`,
      'http:',
      `  addr: ${addr}`,
      ...extra,
      '',
    ].join('\n'),
  );
  const bin = requireExecutable(['docker-registry'], 'docker-registry');
  return startAndAwait(name, bin, ['serve', config], path.join(dir, `${file}.log`), ready);
}

/** A one-file image, imported into the local engine and pushed. */
function pushTinyImage(repoTag: string, content: string): void {
  const src = fs.mkdtempSync(path.join(dir, 'img-'));
  fs.writeFileSync(path.join(src, 'hello.txt'), content);
  const tar = execFileSync('tar', ['-C', src, '-c', 'hello.txt']);
  execFileSync(docker, ['import', '-', `${host}/${repoTag}`], { input: tar, stdio: ['pipe', 'ignore', 'pipe'] });
  execFileSync(docker, ['push', `${host}/${repoTag}`], { stdio: 'ignore' });
  execFileSync(docker, ['rmi', `${host}/${repoTag}`], { stdio: 'ignore' });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pin-images-'));
  const port = await freePort();
  host = `127.0.0.1:${port}`;
  registry = await startRegistry('docker-registry', 'registry', host, [], () => httpOk(`http://${host}/v2/`));
  docker = execFileSync(path.join(ROOT, 'scripts', 'ensure-docker'), { encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop() as string;

  const run = randomBytes(4).toString('hex');
  pushTinyImage('tiny:1.0', `tiny ${run}`);
  pushTinyImage('multi:amd64', `amd64 ${run}`);
  pushTinyImage('multi:arm64', `arm64 ${run}`);
  const [amd64, arm64] = [await manifestOf('multi:amd64'), await manifestOf('multi:arm64')];
  // A multi-platform tag: a manifest list PUT through the distribution API, as `docker buildx` would push one.
  const list = JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_LIST,
    manifests: [
      { mediaType: MANIFEST_V2, size: amd64.size, digest: amd64.digest, platform: { architecture: 'amd64', os: 'linux' } },
      { mediaType: MANIFEST_V2, size: arm64.size, digest: arm64.digest, platform: { architecture: 'arm64', os: 'linux' } },
    ],
  });
  const put = await fetch(`http://${host}/v2/multi/manifests/2.0`, {
    method: 'PUT',
    headers: { 'Content-Type': MANIFEST_LIST },
    body: list,
  });
  expect(put.status).toBe(201);
  // An OCI image index as well (what `docker buildx` and most registries serve today).
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ mediaType: MANIFEST_V2, size: amd64.size, digest: amd64.digest, platform: { architecture: 'amd64', os: 'linux' } }],
  });
  const putIndex = await fetch(`http://${host}/v2/multi/manifests/3.0`, {
    method: 'PUT',
    headers: { 'Content-Type': OCI_INDEX },
    body: index,
  });
  expect(putIndex.status).toBe(201);
  digests.oci = `sha256:${createHash('sha256').update(index).digest('hex')}`;
  digests.tiny = (await manifestOf('tiny:1.0')).digest;
  digests.multi = `sha256:${createHash('sha256').update(list).digest('hex')}`;
  digests.amd64 = amd64.digest;
}, 120000);

afterAll(async () => {
  await registry?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A stack file in several YAML styles: comments, quotes, a flow map, an already pinned image, the app's own image. */
function stackFile(images: { postgres: string; redis: string; grafana: string }): string {
  return [
    '# qa: third-party images below',
    'config:',
    '  event-stack:namespace: event-stack-qa',
    '  event-stack:image:',
    `    ref: registry.example.com/event-service@sha256:${'a'.repeat(64)}`,
    '    version: 1.0.0',
    '  event-stack:postgres:',
    `    image: ${images.postgres}   # the database`,
    '    storage: 5Gi',
    '  event-stack:redis:',
    `    image: "${images.redis}"`,
    `  event-stack:grafana: { image: '${images.grafana}', storage: 1Gi }`,
    '',
  ].join('\n');
}

function repo(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(dir, 'repo-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(root, name), text);
  return root;
}
const read = (root: string) => Object.fromEntries(fs.readdirSync(root).map((f) => [f, fs.readFileSync(path.join(root, f), 'utf8')]));

/** The same, without blocking this process (whose token server must answer meanwhile). */
function makePinAsync(root: string, envName: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('make', ['-s', '-o', 'node_modules/.install-stamp', 'pin-images', `PROMOTE_ROOT=${root}`, `ENV=${envName}`], {
      cwd: ROOT,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

function makePin(root: string, envName: string) {
  const run = spawnSync('make', ['-s', '-o', 'node_modules/.install-stamp', 'pin-images', `PROMOTE_ROOT=${root}`, `ENV=${envName}`], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('a registry asked only for an image manifest answers the multi-platform tag with one platform: the test can tell', async () => {
  expect((await manifestOf('multi:2.0')).digest).toBe(digests.amd64);
  expect((await manifestOf('multi:2.0', MANIFEST_LIST)).digest).toBe(digests.multi);
});

test('when a stack file names tag-only third-party images, then each gets tag@sha256 of what the registry serves (the manifest list for a multi-platform tag), every other byte unchanged', () => {
  const pinned = `${host}/tiny:1.0@${digests.tiny}`;
  const before = stackFile({ postgres: `${host}/tiny:1.0`, redis: `${host}/multi:2.0`, grafana: pinned });
  const root = repo({ 'Pulumi.qa.yaml': before });
  const r = makePin(root, 'qa');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(read(root)['Pulumi.qa.yaml']).toBe(
    stackFile({ postgres: `${host}/tiny:1.0@${digests.tiny}`, redis: `${host}/multi:2.0@${digests.multi}`, grafana: pinned }),
  );
  expect(r.stdout).toContain(`Pulumi.qa.yaml event-stack:redis.image: ${host}/multi:2.0@${digests.multi} (image index: every platform)`);
  expect(r.stdout).toContain(`Pulumi.qa.yaml event-stack:postgres.image: ${host}/tiny:1.0@${digests.tiny} (single-platform manifest)`);
  expect(r.stdout).toContain('Pulumi.qa.yaml: 1 image(s) already pinned, left as they are');

  const again = makePin(root, 'qa');
  expect(again.status).toBe(0);
  expect(again.stdout).toContain('pin-images: nothing to pin');
});

test('when a tag names an OCI image index, then it is pinned to the index digest', () => {
  const root = repo({
    'Pulumi.staging.yaml': stackFile({ postgres: `${host}/multi:3.0`, redis: `${host}/tiny:1.0`, grafana: `${host}/tiny:1.0` }),
  });
  const r = makePin(root, 'staging');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(
    `Pulumi.staging.yaml event-stack:postgres.image: ${host}/multi:3.0@${digests.oci} (image index: every platform)`,
  );
  expect(read(root)['Pulumi.staging.yaml']).toContain(`image: ${host}/multi:3.0@${digests.oci}   # the database`);
});

test('when one tag does not resolve, then pin-images names it, fails, and changes no file (not even the ones that resolved)', () => {
  const files = {
    'Pulumi.dev.yaml': stackFile({ postgres: `${host}/tiny:1.0`, redis: `${host}/multi:2.0`, grafana: `${host}/tiny:1.0` }),
    'Pulumi.qa.yaml': stackFile({ postgres: `${host}/tiny:1.0`, redis: `${host}/tiny:9.9`, grafana: `${host}/nothing:1.0` }),
    'Pulumi.staging.yaml': stackFile({ postgres: `${host}/tiny:1.0`, redis: `${host}/tiny:1.0`, grafana: `${host}/tiny:1.0` }),
    'Pulumi.prod.yaml': stackFile({ postgres: `${host}/tiny:1.0`, redis: `${host}/tiny:1.0`, grafana: `${host}/tiny:1.0` }),
  };
  const root = repo(files);
  const r = makePin(root, '');
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain('pin-images: nothing was changed; resolve these first:');
  expect(r.stderr).toContain(`- Pulumi.qa.yaml event-stack:redis.image: tag "9.9" of ${host}/tiny does not exist in the registry`);
  expect(r.stderr).toContain(`- Pulumi.qa.yaml event-stack:grafana.image: tag "1.0" of ${host}/nothing does not exist in the registry`);
  expect(read(root)).toEqual(files);
});

test('when the stack is unknown or the registry cannot be reached, then pin-images says so, fails and changes nothing', async () => {
  const files = {
    'Pulumi.qa.yaml': stackFile({
      postgres: `127.0.0.1:${await freePort()}/tiny:1.0`,
      redis: `${host}/tiny:1.0`,
      grafana: `${host}/tiny:1.0`,
    }),
  };
  const root = repo(files);
  const unknown = makePin(root, 'uat');
  expect(unknown.status).not.toBe(0);
  expect(unknown.stderr).toContain('pin-images: unknown stack "uat": expected one of dev, qa, staging, prod (or no ENV for all)');
  const unreachable = makePin(root, 'qa');
  expect(unreachable.status).not.toBe(0);
  expect(unreachable.stderr).toMatch(/event-stack:postgres\.image: cannot reach the registry 127\.0\.0\.1:\d+ \(.*ECONNREFUSED/);
  expect(read(root)).toEqual(files);
});

/** An RS256 JWT the registry accepts: signed with our key, our certificate in x5c, pull access to the asked scope. */
function pullToken(key: string, cert: X509Certificate, scope: string, service: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const [, name, actions] = scope.split(':');
  const now = Math.floor(Date.now() / 1000);
  const header = b64({ alg: 'RS256', typ: 'JWT', x5c: [cert.raw.toString('base64')] });
  const claims = b64({
    iss: 'pin-images-test',
    sub: '',
    aud: service,
    exp: now + 300,
    nbf: now - 10,
    iat: now,
    jti: randomBytes(8).toString('hex'),
    access: [{ type: 'repository', name, actions: (actions ?? '').split(',') }],
  });
  const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key).toString('base64url');
  return `${header}.${claims}.${signature}`;
}

interface TokenService {
  server: http.Server;
  realm: string;
  /** The certificate the registry verifies the tokens' signatures with. */
  certFile: string;
  /** The query string of every token request. */
  requests: string[];
}

/** A token service of our own on 127.0.0.1: a fresh key and certificate, an anonymous pull token for any scope. */
async function startTokenService(): Promise<TokenService> {
  const keyFile = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', '/CN=pin-images-test', '-days', '1'],
    { stdio: 'ignore' },
  );
  const key = fs.readFileSync(keyFile, 'utf8');
  const cert = new X509Certificate(fs.readFileSync(certFile));
  const port = await freePort();
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    requests.push(url.search);
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ token: pullToken(key, cert, url.searchParams.get('scope') ?? '', url.searchParams.get('service') ?? '') }));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, realm: `http://127.0.0.1:${port}/token`, certFile, requests };
}

/**
 * Registries such as Docker Hub answer 401 with a Bearer challenge and hand out anonymous pull tokens.
 * The same storage served by a second docker-registry with token auth, and a token service of our own
 * (the registry verifies the JWT's signature against our certificate), exercise that path for real.
 */
describe('a registry that requires a pull token', () => {
  let secured: Running;
  let tokens: TokenService;
  let securedHost: string;

  beforeAll(async () => {
    tokens = await startTokenService();
    securedHost = `127.0.0.1:${await freePort()}`;
    const auth = [
      'auth:',
      '  token:',
      `    realm: ${tokens.realm}`,
      '    service: pin-images-registry',
      '    issuer: pin-images-test',
      `    rootcertbundle: ${tokens.certFile}`,
    ];
    secured = await startRegistry('docker-registry-secured', 'secured', securedHost, auth, async () => {
      const res = await fetch(`http://${securedHost}/v2/`).catch(() => undefined);
      return res?.status === 401;
    });
  }, 60000);

  afterAll(async () => {
    await secured?.stop();
    await new Promise((resolve) => tokens?.server.close(resolve));
  });

  test('when the registry answers 401 with a Bearer challenge, then pin-images fetches an anonymous pull token for the repository and pins the tag', async () => {
    const unauthenticated = await fetch(`http://${securedHost}/v2/multi/manifests/2.0`, { method: 'HEAD' });
    expect(unauthenticated.status).toBe(401);
    const root = repo({
      'Pulumi.qa.yaml': stackFile({
        postgres: `${securedHost}/multi:2.0`,
        redis: `${securedHost}/tiny:1.0`,
        grafana: `${host}/tiny:1.0@${digests.tiny}`,
      }),
    });
    const r = await makePinAsync(root, 'qa');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(read(root)['Pulumi.qa.yaml']).toContain(`image: ${securedHost}/multi:2.0@${digests.multi}   # the database`);
    expect(read(root)['Pulumi.qa.yaml']).toContain(`image: "${securedHost}/tiny:1.0@${digests.tiny}"`);
    expect(tokens.requests).toEqual(
      expect.arrayContaining([
        expect.stringContaining('scope=repository%3Amulti%3Apull'),
        expect.stringContaining('service=pin-images-registry'),
      ]),
    );
  });
});
