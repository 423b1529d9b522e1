/**
 * Event validation runs zod's compiled parser (`z.compile`) on every event: it must stay compilable
 * (otherwise zod silently falls back to the slower runtime parser) and must decide exactly as the schema
 * does, with the same data and the same issues, on every input.
 */
import fc from 'fast-check';
import { z } from 'zod';
import { eventSchema } from '../src/ingest/schemas';
import { checkPayload, compiledEventSchema } from '../src/ingest/validate';
import { corpusEvents } from './corpus/events';

const outcome = (r: { success: boolean; data?: unknown; error?: z.ZodError }) =>
  r.success ? { data: r.data } : { issues: r.error!.issues.map(({ code, path: p, message }) => ({ code, path: p, message })) };

describe('the compiled event schema', () => {
  it('when zod compiles the event schema strictly, then it has a fast path for every part of it', () => {
    expect(() => z.compile(eventSchema, { strict: true })).not.toThrow();
  });

  it('when given the bad-input corpus, then every event-shaped body gets the runtime parser’s outcome', () => {
    const items = corpusEvents();
    for (const item of items) expect(outcome(compiledEventSchema.safeParse(item))).toEqual(outcome(eventSchema.safeParse(item)));
    expect(items.length).toBeGreaterThan(40);
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

/** The payload check as first written, building each path as it goes: the oracle for the allocation-free one. */
function referenceCheck(value: unknown, maxDepth: number, path = 'payload', depth = 1): string | undefined {
  const bad = (x: string) =>
    // eslint-disable-next-line no-control-regex -- matching NUL is the point
    /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(x)
      ? 'contains a NUL character or an unpaired surrogate'
      : undefined;
  if (typeof value === 'string') return bad(value) && `${path} ${bad(value)}`;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path} is not a finite number`;
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > maxDepth) return `${path} is nested deeper than ${maxDepth} levels`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = referenceCheck(value[i], maxDepth, `${path}[${i}]`, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (key === '__proto__') return `${path} has a "__proto__" key`;
    if (bad(key)) return `${path} has a key that ${bad(key)}`;
    const problem = referenceCheck((value as Record<string, unknown>)[key], maxDepth, `${path}.${key}`, depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

describe('the payload check', () => {
  it('when a payload has a problem deep inside, then the message names its path, key by key and index by index', () => {
    const parse = (json: string) => JSON.parse(json) as unknown;
    expect(checkPayload(parse('{"a":{"b":[1,{"c":"x\\u0000"}]}}'), 8)).toBe(
      'payload.a.b[1].c contains a NUL character or an unpaired surrogate',
    );
    expect(checkPayload(parse('{"a":[[{"__proto__":1}]]}'), 8)).toBe('payload.a[0][0] has a "__proto__" key');
    expect(checkPayload(parse('{"k":{"\\ud800":1}}'), 8)).toBe(
      'payload.k has a key that contains a NUL character or an unpaired surrogate',
    );
    expect(checkPayload(parse('{"a":{"b":{"c":{}}}}'), 3)).toBe('payload.a.b.c is nested deeper than 3 levels');
    expect(checkPayload({ n: [0, Infinity] }, 8)).toBe('payload.n[1] is not a finite number');
    expect(checkPayload(parse('{"a":{"b":[1,{"c":"ok"}]},"d":"é😀"}'), 8)).toBeUndefined();
  });

  it('when given arbitrary JSON values, then it reports exactly what the path-building reference reports', () => {
    const text = fc.oneof(fc.string(), fc.constantFrom('\u0000', '\ud800', '\udc00x', '__proto__', 'a.b', '[0]'));
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(text, tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(json, fc.integer({ min: 1, max: 5 }), (value, maxDepth) => {
        // Through JSON text, as a request body arrives: "__proto__" becomes an own key, as JSON.parse makes it.
        const parsed = JSON.parse(JSON.stringify(value) ?? 'null') as unknown;
        expect(checkPayload(parsed, maxDepth)).toBe(referenceCheck(parsed, maxDepth));
        expect(checkPayload(value, maxDepth)).toBe(referenceCheck(value, maxDepth));
      }),
      { numRuns: 3000 },
    );
  });
});
