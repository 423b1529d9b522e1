import fs from 'node:fs';
import path from 'node:path';
import { configTable } from '../../scripts/config-table';

describe('README', () => {
  it('holds the configuration table exactly as the config schema renders it', () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const inReadme = readme.split('<!-- config-table:start -->')[1]?.split('<!-- config-table:end -->')[0]?.trim();
    expect(inReadme).toBe(configTable());
  });
});
