/**
 * Validation's fast path (`wellFormedEvent`) may only accept what the event schema accepts, with the time
 * `Date.parse` reads; and it must recognise the events sensors really send, or it saves nothing.
 */
import fc from 'fast-check';
import { eventSchema } from '../src/ingest/schemas';
import { wellFormedEvent } from '../src/ingest/well-formed';
import { corpusEvents } from './corpus/events';

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** ISO-like times around every boundary the schema checks: impossible dates, hours, offsets, fractions, zones. */
const timeLike = fc
  .record({
    year: fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 99, 100, 1900, 2000, 2024, 2100)),
    month: fc.integer({ min: 0, max: 13 }),
    day: fc.integer({ min: 0, max: 32 }),
    hour: fc.integer({ min: 0, max: 25 }),
    minute: fc.integer({ min: 0, max: 61 }),
    second: fc.integer({ min: 0, max: 61 }),
    fraction: fc.oneof(fc.constant(''), fc.constant('.'), fc.stringMatching(/^\.[0-9]{1,9}$/)),
    zone: fc.oneof(
      fc.constantFrom('Z', 'z', '', '+00:00', '-00:00', '+24:00', '+23:59', '-12:60', '+0530', '+05:30Z', 'Z '),
      fc
        .tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }))
        .map(([sign, h, m]) => `${sign}${pad(h, 2)}:${pad(m, 2)}`),
    ),
    separator: fc.constantFrom('T', 'T', 'T', 't', ' '),
  })
  .map(
    (t) =>
      `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)}${t.separator}${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}${t.fraction}${t.zone}`,
  );

/** UUID-like strings: every version and variant digit, either case, wrong lengths and characters, nil and max. */
const uuidLike = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc
    .tuple(
      fc.stringMatching(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-Fg]$/),
      fc.stringMatching(/^[0-9a-fA-F]{3}-[0-9a-fA-Fg][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$/),
    )
    .map(([a, b]) => a + b),
  fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', ''),
  fc.string({ minLength: 35, maxLength: 37 }),
);

/** Mostly plausible events, each field now and then wrong, now and then an unknown field. */
const eventLike = fc
  .tuple(
    fc.record(
      {
        id: fc.oneof(uuidLike, fc.constantFrom(null, 42)),
        type: fc.oneof(
          { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/) },
          { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 70 }), fc.constant(7)) },
        ),
        ts: fc.oneof(
          timeLike,
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.constant(null),
        ),
        payload: fc.oneof({ weight: 4, arbitrary: fc.object() }, { weight: 1, arbitrary: fc.constantFrom(null, [], 'x') }),
      },
      { requiredKeys: ['type', 'payload'] },
    ),
    fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.anything() }),
  )
  .map(([event, extra]) => (extra === undefined ? event : { ...event, extra }));

describe('validation fast path', () => {
  it('when it accepts an event, then the schema accepts it too, with the same id and type and the time Date.parse reads', () => {
    let accepted = 0;
    fc.assert(
      fc.property(eventLike, (event) => {
        const fast = wellFormedEvent(event);
        if (!fast) return;
        accepted++;
        const parsed = eventSchema.safeParse(event);
        expect(parsed.success).toBe(true);
        expect(fast.id).toBe(parsed.data!.id);
        expect(fast.type).toBe(parsed.data!.type);
        expect(fast.time).toBe(parsed.data!.ts === undefined ? undefined : Date.parse(parsed.data!.ts));
      }),
      { numRuns: 20_000 },
    );
    expect(accepted).toBeGreaterThan(100); // the property was exercised, not vacuous
  });

  it('when a time is valid, then the fast path reads it as Date.parse does; when it is not, then the fast path leaves it to the schema', () => {
    fc.assert(
      fc.property(timeLike, (ts) => {
        const fast = wellFormedEvent({ type: 't', ts, payload: {} });
        if (eventSchema.safeParse({ type: 't', ts, payload: {} }).success && fast) expect(fast.time).toBe(Date.parse(ts));
        if (!eventSchema.safeParse({ type: 't', ts, payload: {} }).success) expect(fast).toBeUndefined();
      }),
      { numRuns: 20_000 },
    );
  });

  it('when events are as sensors send them (random or time-ordered ids, times with Z or an offset, no ts, no id), then the fast path takes them', () => {
    const now = Date.now();
    const events = [
      { id: '0193a5c2-7b1e-7c3d-9e4f-0a1b2c3d4e5f', type: 'temperature', ts: new Date(now).toISOString(), payload: { c: 21 } },
      { id: 'F47AC10B-58CC-4372-A567-0E02B2C3D479', type: 'door.opened', ts: '2026-11-26T12:00:00+01:00', payload: {} },
      { type: 'temperature', ts: '2026-11-26T12:00:00.123456Z', payload: { c: 21 } },
      { type: 'x:y-z_1', payload: { nested: { a: [1] } } },
    ];
    for (const e of events)
      expect(wellFormedEvent(e)).toEqual({ id: e.id, type: e.type, time: e.ts === undefined ? undefined : Date.parse(e.ts) });
  });

  it('when given the bad-input corpus, then it accepts no event the schema rejects', () => {
    const items = corpusEvents();
    for (const item of items) if (!eventSchema.safeParse(item).success) expect(wellFormedEvent(item)).toBeUndefined();
    expect(items.length).toBeGreaterThan(20);
  });
});
