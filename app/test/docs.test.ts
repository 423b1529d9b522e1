import fs from 'node:fs';
import { configTable, README, readmeTable } from '../../scripts/config-table';

describe('README', () => {
  it('holds the configuration table exactly as the config schema renders it (`make config-docs` rewrites it)', () => {
    expect(readmeTable(fs.readFileSync(README, 'utf8'))).toBe(configTable());
  });
});
