/** The generated, uncommitted CRD models: the schema checks refuse to run on missing or stale ones. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CRD_MODELS_DIR, staleCrdModels } from '../scripts/crd-models';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crd-models-test-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('when the models were made by make from the vendored CRDs, then they are current', () => {
  expect(staleCrdModels()).toBeUndefined();
});

test('when there are no models, then they are missing and `make crd-models` is named', () => {
  expect(staleCrdModels(dir)).toMatch(/missing: run `make crd-models`/);
});

test('when a vendored CRD or the generator changed after the models were made, then they are stale', () => {
  const current = fs.readFileSync(path.join(CRD_MODELS_DIR, '.source'), 'utf8');
  fs.writeFileSync(path.join(dir, '.source'), current.replace(/^(\S+ )[0-9.]+/, '$10.0.1'));
  expect(staleCrdModels(dir)).toMatch(/other CRDs or another crd-generate: run `make crd-models`/);
  fs.writeFileSync(path.join(dir, '.source'), current.replace(/^[0-9a-f]{64}/m, '0'.repeat(64)));
  expect(staleCrdModels(dir)).toMatch(/other CRDs or another crd-generate/);
  fs.writeFileSync(path.join(dir, '.source'), current);
  expect(staleCrdModels(dir)).toBeUndefined();
});
