import fc from 'fast-check';
import { jsonShapeProblem } from '../src/http/json-shape';

const scan = (text: string | Buffer, maxDepth = 3, maxStringBytes = 10) =>
  jsonShapeProblem(Buffer.from(text), { maxDepth, maxStringBytes })?.message;

function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  return 1 + Math.max(0, ...Object.values(value as object).map(depthOf));
}

function longestString(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(JSON.stringify(value)) - 2;
  if (value === null || typeof value !== 'object') return 0;
  return Math.max(
    0,
    ...Object.entries(value as object).map(([k, v]) => Math.max(Buffer.byteLength(JSON.stringify(k)) - 2, longestString(v))),
  );
}

describe('the JSON shape pre-scan', () => {
  it('when brackets, quotes and backslashes sit inside strings, then they are not counted as nesting', () => {
    expect(scan('{"a":"[[[[{{{{"}')).toBeUndefined();
    expect(scan('{"a":"\\\\","b":"\\"[[[["}')).toBeUndefined();
    expect(scan('[[["\\\\"]]]')).toBeUndefined();
  });

  it('when the body nests deeper or holds a longer string than allowed, then it names which', () => {
    expect(scan('[[[[1]]]]')).toBe('is nested deeper than 3 levels');
    expect(scan('{"a":"0123456789x"}')).toBe('holds a string longer than 10 bytes');
    expect(scan('{"0123456789x":1}')).toBe('holds a string longer than 10 bytes');
  });

  it('when a body would be altered by parsing, then it is refused: invalid UTF-8, numbers a double cannot hold, repeated keys', () => {
    expect(scan(Buffer.from([0x7b, 0x22, 0x61, 0xff, 0x22, 0x3a, 0x31, 0x7d]))).toBe('the body is not valid UTF-8');
    for (const n of ['12345678901234567890123', '9007199254740993', '1e-400', '1e400', '-0.10000000000000000001'])
      expect(scan(`{"n":${n}}`, 3, 100)).toMatch(/cannot be stored exactly/);
    for (const n of ['0', '-0', '1.50', '1e3', '9007199254740992', '0.1', '-1.5E-7', '1000000000000000000000000e-10', '2e-323'])
      expect(scan(`{"n":${n}}`, 3, 100)).toBeUndefined();
    expect(scan('{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}', 5)).toBeUndefined();
    expect(scan('{"a":1,"b":2,"a":3}')).toMatch(/repeats the key "a"/);
    expect(scan('{"a":1,"\\u0061":2}')).toMatch(/repeats the key "a"/);
    const many = Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`);
    expect(scan(`{${many.join(',')}}`)).toBeUndefined();
    expect(scan(`{${many.join(',')},"k39":1}`)).toMatch(/repeats the key "k39"/);
  });

  it('when any JSON value is within the limits, then the scan never refuses it, and refuses it when it is not', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        const fits = depthOf(value) <= 3 && longestString(value) <= 10;
        expect(scan(text) === undefined).toBe(fits);
      }),
      { numRuns: 500 },
    );
  });
});
