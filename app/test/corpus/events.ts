/** The events of the bad-input corpus, for tests of validation that need no service. */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Every event-shaped item of bad-inputs.json: each JSON body as the service would parse it ({{now}} filled in),
 * and each event of a batch on its own. Bodies that are not JSON never reach validation and are left out.
 */
export function corpusEvents(): unknown[] {
  const corpus = JSON.parse(fs.readFileSync(path.join(__dirname, 'bad-inputs.json'), 'utf8')) as {
    cases: Array<{ request: { body?: unknown } }>;
  };
  return corpus.cases.flatMap((c) => {
    let body: unknown = c.request.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body.replaceAll('{{now}}', new Date().toISOString()));
      } catch {
        return []; // malformed JSON never reaches validation
      }
    }
    const items = (body as { events?: unknown })?.events;
    return Array.isArray(items) ? items : [body];
  });
}
