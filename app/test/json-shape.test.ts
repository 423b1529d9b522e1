import fc from 'fast-check';
import { jsonShapeProblem } from '../src/http/json-shape';

const scan = (text: string, maxDepth = 3, maxStringBytes = 10) => jsonShapeProblem(Buffer.from(text), { maxDepth, maxStringBytes });

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
