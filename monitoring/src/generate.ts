/**
 * Writes the files rendered from the monitoring contract: `rules DIR` the rule files (alerts/rules), in prettier's
 * format so that `make lint` and the drift check agree on one text.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { renderRuleFiles } from './rules';

async function formatted(file: string, text: string): Promise<string> {
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...options, filepath: file });
}

export async function writeRuleFiles(dir: string): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, text] of Object.entries(renderRuleFiles())) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, await formatted(file, text));
    written.push(file);
  }
  return written;
}

if (require.main === module) {
  const [what, target] = process.argv.slice(2);
  const run =
    what === 'rules' && target
      ? writeRuleFiles(target).then((files) => console.log(`rules: ${files.length} files rendered into ${target}`))
      : Promise.reject(new Error('usage: generate.ts rules DIR'));
  run.catch((err: unknown) => {
    console.error((err as Error).message);
    process.exitCode = 1;
  });
}
