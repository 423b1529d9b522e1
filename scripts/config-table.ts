/** Prints the README's configuration table from the one schema in app/src/config.ts. */
import { settings } from '../app/src/config';

export function configTable(): string {
  const rows = Object.entries(settings).map(([name, s]) => {
    const dflt = 'default' in s && s.default !== undefined ? (s.default === '' ? '(empty)' : `\`${s.default}\``) : '**required**';
    return `| \`${name}\` | ${dflt} | ${'secret' in s && s.secret ? 'yes' : ''} | ${s.doc} |`;
  });
  return ['| Variable | Default | Secret | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

if (require.main === module) console.log(configTable());
