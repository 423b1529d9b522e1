/**
 * Searches every log written during a test run for credentials. Tokens and passwords used by the
 * tests have recognisable shapes (sensor tokens by design, `evs_` + 43 characters; test admin tokens
 * `admin-` + 48 hex; test passwords `pw-` + 32 hex), so any of them, from any test, is found
 * without having to know it. Called by the jest global teardown, after every test has run.
 */
import fs from 'node:fs';
import path from 'node:path';

export const SECRET_PATTERNS: Array<{ what: string; pattern: RegExp }> = [
  { what: 'sensor token', pattern: /evs_[A-Za-z0-9_-]{43}/ },
  { what: 'admin token', pattern: /admin-[0-9a-f]{48}/ },
  { what: 'password', pattern: /pw-[0-9a-f]{32}/ },
  { what: 'bearer credential', pattern: /Bearer\s+[A-Za-z0-9._~+/=-]{16,}/ },
];

export interface SecretFinding {
  file: string;
  line: number;
  what: string;
}

export interface ScanReport {
  files: string[];
  lines: number;
  findings: SecretFinding[];
}

/** Log files (*.log, *.jsonl) under `dir`, skipping database data directories. */
function logFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'data') out.push(...logFiles(full));
    } else if (/\.(log|jsonl)$/.test(entry.name)) out.push(full);
  }
  return out;
}

export function scanLogsForSecrets(dir: string): ScanReport {
  const files = logFiles(dir);
  const findings: SecretFinding[] = [];
  let lines = 0;
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    text.split('\n').forEach((line, i) => {
      lines++;
      for (const { what, pattern } of SECRET_PATTERNS) if (pattern.test(line)) findings.push({ file, line: i + 1, what });
    });
  }
  return { files, lines, findings };
}

/** One line for the console; never quotes the secret itself. */
export function describeScan(report: ScanReport): string {
  if (report.findings.length === 0) {
    return `secret scan: ${report.files.length} log files, ${report.lines} lines: no token, admin token or password found`;
  }
  const where = report.findings.slice(0, 20).map((f) => `  ${f.what} in ${f.file}:${f.line}`);
  return `secret scan: ${report.findings.length} credential(s) found in logs:\n${where.join('\n')}`;
}
