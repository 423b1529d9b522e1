/**
 * Where Pulumi keeps a stack's state: PULUMI_BACKEND_URL (environment or make variable). Any backend Pulumi
 * supports is accepted — object storage (s3://, gs://, azblob://), Pulumi Cloud or a self-hosted service
 * (https://) — but a local folder (file://) only for dev: state on one laptop can be neither shared nor
 * locked by a team. ALLOW_LOCAL_BACKEND=1 overrides that, on purpose.
 */
import fs from 'node:fs';
import { PromoteError } from './errors';
import type { Stage } from './stages';

export interface Backend {
  url: string;
  kind: 'local' | 'object storage' | 'service';
}

const OBJECT_STORES = new Set(['s3:', 'gs:', 'azblob:']);
const EXAMPLES =
  's3://<bucket>[/prefix][?region=…], gs://<bucket>, azblob://<container>, https://api.pulumi.com, or file://<absolute path> (dev only)';

export function checkBackend(stage: Stage, env: NodeJS.ProcessEnv): Backend {
  const raw = (env.PULUMI_BACKEND_URL ?? '').trim();
  if (!raw) throw new PromoteError(`PULUMI_BACKEND_URL is not set: name where stack ${stage} keeps its state, e.g. ${EXAMPLES}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PromoteError(`PULUMI_BACKEND_URL "${raw}" is not a URL: expected ${EXAMPLES}`);
  }
  if (url.protocol === 'file:') {
    if (url.host || url.pathname === '' || url.pathname === '/')
      throw new PromoteError(`PULUMI_BACKEND_URL "${raw}" must name an absolute folder: file:///path/to/state`);
    if (stage !== 'dev' && env.ALLOW_LOCAL_BACKEND !== '1') {
      throw new PromoteError(
        `stack ${stage} refuses the local backend ${raw}: state in a folder on one machine cannot be shared or locked by a team. ` +
          `Set PULUMI_BACKEND_URL to a shared backend (${EXAMPLES.replace(', or file://<absolute path> (dev only)', '')}), or ALLOW_LOCAL_BACKEND=1 if you mean it`,
      );
    }
    return { url: raw, kind: 'local' };
  }
  if (OBJECT_STORES.has(url.protocol)) {
    if (!url.hostname)
      throw new PromoteError(
        `PULUMI_BACKEND_URL "${raw}" names no bucket or container: expected e.g. ${url.protocol}//<bucket>/event-stack`,
      );
    return { url: raw, kind: 'object storage' };
  }
  if (url.protocol === 'https:') return { url: raw, kind: 'service' };
  const why = url.protocol === 'http:' ? ' (plain http:// would send tokens in clear)' : '';
  throw new PromoteError(`PULUMI_BACKEND_URL "${raw}": scheme ${url.protocol} is not a Pulumi backend${why}; expected ${EXAMPLES}`);
}

/** Creates a local backend's state folder when missing; other backends need nothing here. */
export function ensureLocalState(backend: Backend): void {
  if (backend.kind === 'local') fs.mkdirSync(new URL(backend.url).pathname, { recursive: true });
}
