/**
 * Validation's fast path: recognises a well-formed event with plain character comparisons, and reads its time
 * while checking it, so that nearly every event skips the schema's parser, its output object and `Date.parse`.
 * It accepts only what `eventSchema` accepts, with the time `Date.parse` gives (a property test holds it to
 * both); whatever it does not recognise, even a valid rarity such as the nil UUID or an offset of +00:00 in a
 * year before 100, goes to the schema, which decides and words the errors.
 */
import { EVENT_TYPE, isJsonObject } from './schemas';

export interface WellFormedEvent {
  id: string | undefined;
  type: string;
  /** Milliseconds since the epoch of `ts`, truncated as `Date.parse` truncates; undefined without `ts`. */
  time: number | undefined;
}

const DASH = 45;
const COLON = 58;

/** Hex digit values by character code, -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/** An RFC 9562 UUID of versions 1–8 in the canonical 8-4-4-4-12 form (the schema's z.uuid() minus nil and max). */
function isUuid(s: string): boolean {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== DASH) return false;
    } else if (c > 127 || HEX[c]! < 0) return false;
  }
  const version = s.charCodeAt(14) - 48;
  const variant = HEX[s.charCodeAt(19)]!;
  return version >= 1 && version <= 8 && variant >= 8 && variant <= 11;
}

/** The value of `length` decimal digits at `at`, or -1 if any is not a digit. */
function digits(s: string, at: number, length: number): number {
  let n = 0;
  for (let i = at; i < at + length; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` with a real calendar date, as milliseconds since the epoch; undefined
 * for anything else. The schema's `z.iso.datetime({ offset: true })` accepts exactly this form.
 */
function isoTimeMs(s: string): number | undefined {
  if (s.length < 20 || s.charCodeAt(4) !== DASH || s.charCodeAt(7) !== DASH || s.charCodeAt(10) !== 84 /* T */) return undefined;
  if (s.charCodeAt(13) !== COLON || s.charCodeAt(16) !== COLON) return undefined;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  if (year < 100 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
    return undefined; // years 0–99 too: Date.UTC would read them as 1900–1999
  }
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!)) return undefined;
  let at = 19;
  let ms = 0;
  if (s.charCodeAt(at) === 46 /* . */) {
    const start = ++at;
    while (at < s.length && s.charCodeAt(at) >= 48 && s.charCodeAt(at) <= 57) {
      if (at - start < 3) ms = ms * 10 + s.charCodeAt(at) - 48;
      at++;
    }
    if (at === start) return undefined;
    for (let i = at - start; i < 3; i++) ms *= 10;
  }
  let offsetMin = 0;
  const zone = s.charCodeAt(at);
  if (zone === 90 /* Z */) {
    if (at + 1 !== s.length) return undefined;
  } else if (zone === 43 /* + */ || zone === 45 /* - */) {
    if (at + 6 !== s.length || s.charCodeAt(at + 3) !== COLON) return undefined;
    const oh = digits(s, at + 1, 2);
    const om = digits(s, at + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
    offsetMin = (zone === 43 ? 1 : -1) * (oh * 60 + om);
  } else return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMin * 60_000;
}

/** The event's fields if it is well formed as `eventSchema` defines it, else undefined (the schema then decides). */
export function wellFormedEvent(item: unknown): WellFormedEvent | undefined {
  if (!isJsonObject(item)) return undefined;
  for (const key in item) {
    if (key !== 'type' && key !== 'payload' && key !== 'id' && key !== 'ts') return undefined;
  }
  const { id, type, ts, payload } = item;
  if (typeof type !== 'string' || type.length < 1 || type.length > 64 || !EVENT_TYPE.test(type)) return undefined;
  if (!isJsonObject(payload)) return undefined;
  if (id !== undefined && (typeof id !== 'string' || !isUuid(id))) return undefined;
  let time: number | undefined;
  if (ts !== undefined) {
    if (typeof ts !== 'string') return undefined;
    time = isoTimeMs(ts);
    if (time === undefined) return undefined;
  }
  return { id, type, time };
}
