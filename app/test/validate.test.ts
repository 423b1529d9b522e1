/**
 * Event validation runs zod's compiled parser (`z.compile`) on every event: it must stay compilable
 * (otherwise zod silently falls back to the slower runtime parser) and must decide exactly as the schema
 * does, with the same data and the same issues, on every input.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { z } from 'zod';
import { eventSchema } from '../src/ingest/schemas';
import { compiledEventSchema } from '../src/ingest/validate';

const outcome = (r: { success: boolean; data?: unknown; error?: z.ZodError }) =>
  r.success ? { data: r.data } : { issues: r.error!.issues.map(({ code, path: p, message }) => ({ code, path: p, message })) };

describe('the compiled event schema', () => {
  it('when zod compiles the event schema strictly, then it has a fast path for every part of it', () => {
    expect(() => z.compile(eventSchema, { strict: true })).not.toThrow();
  });

  it('when given the bad-input corpus, then every event-shaped body gets the runtime parser’s outcome', () => {
    const corpus = JSON.parse(fs.readFileSync(path.join(__dirname, 'corpus', 'bad-inputs.json'), 'utf8')) as {
      cases: Array<{ request: { body?: unknown } }>;
    };
    let compared = 0;
    for (const c of corpus.cases) {
      let body: unknown = c.request.body;
      if (typeof body === 'string') {
        try {
          body = JSON.parse(body.replaceAll('{{now}}', new Date().toISOString()));
        } catch {
          continue; // malformed JSON never reaches the schema
        }
      }
      const items = (body as { events?: unknown })?.events;
      for (const item of Array.isArray(items) ? items : [body]) {
        expect(outcome(compiledEventSchema.safeParse(item))).toEqual(outcome(eventSchema.safeParse(item)));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(40);
  });

  it('when given arbitrary events, near-events and other JSON, then it decides as the runtime parser does', () => {
    const uuidish = fc.oneof(
      fc.uuid(),
      fc.string(),
      fc.constant('00000000-0000-0000-0000-000000000000'),
      fc.constant('3F1E2D4C-5B6A-4789-8ABC-DEF012345678'),
    );
    const timeish = fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom(
        '2026-11-27T10:00:00+01:00',
        '2026-02-29T00:00:00Z',
        '2026-11-27T10:00:00',
        '2026-11-27 10:00:00Z',
        '2026-11-27T24:00:00Z',
      ),
      fc.string(),
    );
    const event = fc.record(
      {
        id: fc.oneof(uuidish, fc.integer(), fc.constant(null)),
        type: fc.oneof(
          fc.constantFrom('temperature', 'door.opened', 'a:b-c_d', '', 'x'.repeat(65), 'with space', 'ünï'),
          fc.string(),
          fc.integer(),
        ),
        ts: timeish,
        payload: fc.oneof(fc.object(), fc.array(fc.integer()), fc.constant(null), fc.string()),
        extra: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(event, fc.jsonValue()), (item) => {
        expect(outcome(compiledEventSchema.safeParse(item))).toEqual(outcome(eventSchema.safeParse(item)));
      }),
      { numRuns: 2000 },
    );
  });
});
