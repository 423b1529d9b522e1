/**
 * Resolves an image tag to the digest its registry serves, through the OCI distribution API:
 * `HEAD /v2/<repository>/manifests/<tag>` with every manifest media type in Accept (an image index or
 * a Docker manifest list first), read from Docker-Content-Digest. Accepting the index types matters:
 * a registry asked only for an image manifest answers a multi-platform tag with ONE platform's
 * manifest (linux/amd64), and pinning that digest would pin the other platforms out.
 * When HEAD gives no digest, the manifest is fetched and hashed; a digest the registry claims is
 * always checked against the bytes when they were fetched.
 */
import { createHash } from 'node:crypto';

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;
const INDEX_TYPES = new Set<string>(MANIFEST_TYPES.slice(0, 2));

export class ResolveError extends Error {}

export interface ImageRef {
  /** As written, e.g. `postgres:16.6`. */
  text: string;
  /** Host[:port] of the registry API (Docker Hub's is registry-1.docker.io). */
  registry: string;
  /** Repository path in that registry (Docker Hub: `library/postgres`). */
  repository: string;
  tag?: string;
  digest?: string;
}

const DOCKER_HUB = 'registry-1.docker.io';
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Parses `[registry/]repository[:tag][@digest]` as Docker does (a first segment with `.`, `:` or `localhost` is a registry). */
export function parseImageRef(text: string): ImageRef {
  const bad = (why: string) => new ResolveError(`"${text}" is not an image reference: ${why}`);
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`digest "${digest}" is not sha256:<64 hex>`);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const registry = hasRegistry ? first : DOCKER_HUB;
  let path = hasRegistry ? rest.slice(slash + 1) : rest;
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`tag "${tag}" is not a valid tag`);
  }
  if (!REPOSITORY.test(path)) throw bad(`repository "${path}" is not a valid repository name`);
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  return { text, registry, repository: path, tag, digest };
}

/** Registries on loopback speak plain HTTP (as Docker allows for them); every other one HTTPS. */
function baseUrl(registry: string): string {
  const host = registry.replace(/:\d+$/, '');
  const loopback = host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
  return `${loopback ? 'http' : 'https'}://${registry}`;
}

/** An anonymous pull token, when the registry answers 401 with a Bearer challenge (Docker Hub, GHCR, …). */
async function bearerToken(challenge: string, repository: string): Promise<string> {
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  if (!/^Bearer\s/i.test(challenge) || !params.realm)
    throw new ResolveError(`the registry asks for credentials this tool does not have (${challenge})`);
  const url = new URL(params.realm);
  if (params.service) url.searchParams.set('service', params.service);
  url.searchParams.set('scope', params.scope ?? `repository:${repository}:pull`);
  const res = await fetch(url, { signal: AbortSignal.timeout(15000) });
  if (!res.ok) throw new ResolveError(`the registry's token service ${url.origin} answered ${res.status}`);
  const body = (await res.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new ResolveError(`the registry's token service ${url.origin} gave no token`);
  return token;
}

export interface Resolved {
  digest: string;
  mediaType: string;
  /** True for an image index / manifest list (several platforms under one digest). */
  index: boolean;
}

/** The digest the registry serves for `ref`'s tag now. */
export async function resolveTag(ref: ImageRef): Promise<Resolved> {
  if (!ref.tag) throw new ResolveError(`"${ref.text}" has no tag to resolve`);
  const url = `${baseUrl(ref.registry)}/v2/${ref.repository}/manifests/${encodeURIComponent(ref.tag)}`;
  const headers: Record<string, string> = { Accept: MANIFEST_TYPES.join(', ') };
  const request = async (method: 'HEAD' | 'GET') => {
    let res: Response;
    try {
      res = await fetch(url, { method, headers, signal: AbortSignal.timeout(15000) });
      if (res.status === 401 && !headers.Authorization) {
        headers.Authorization = `Bearer ${await bearerToken(res.headers.get('www-authenticate') ?? '', ref.repository)}`;
        res = await fetch(url, { method, headers, signal: AbortSignal.timeout(15000) });
      }
    } catch (err) {
      if (err instanceof ResolveError) throw err;
      throw new ResolveError(`cannot reach the registry ${ref.registry} (${(err as Error).cause ?? (err as Error).message})`);
    }
    if (res.status === 404) throw new ResolveError(`tag "${ref.tag}" of ${ref.registry}/${ref.repository} does not exist in the registry`);
    if (!res.ok) throw new ResolveError(`the registry ${ref.registry} answered ${res.status} ${res.statusText} for ${method} ${url}`);
    return res;
  };

  const head = await request('HEAD');
  const mediaType = (head.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  let digest = head.headers.get('docker-content-digest') ?? '';
  if (!DIGEST.test(digest)) {
    const got = await request('GET');
    const body = Buffer.from(await got.arrayBuffer());
    const computed = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const claimed = got.headers.get('docker-content-digest');
    if (claimed && claimed !== computed) {
      throw new ResolveError(`the registry ${ref.registry} claims ${claimed} for ${ref.text} but its manifest hashes to ${computed}`);
    }
    digest = computed;
  }
  if (!(MANIFEST_TYPES as readonly string[]).includes(mediaType)) {
    throw new ResolveError(`${ref.text}: the registry served a manifest of type "${mediaType}", not an OCI/Docker image manifest or index`);
  }
  return { digest, mediaType, index: INDEX_TYPES.has(mediaType) };
}
