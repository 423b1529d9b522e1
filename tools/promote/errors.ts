/**
 * The two ways a command ends early. Bad input (exit 2) cannot be overridden; a refusal (exit 3)
 * is a rule or a gate that FORCE=1 may override.
 */
export class PromoteError extends Error {
  readonly exitCode: number = 2;
}

export class RefusedError extends PromoteError {
  override readonly exitCode: number = 3;
  constructor(readonly reasons: string[]) {
    super(`refused:\n${reasons.map((r) => `  - ${r}`).join('\n')}\nFORCE=1 overrides (the override is logged in the ledger).`);
  }
}

/** The watch after a deploy saw a breach and put the previous digest back (exit 5). */
export class RolledBackError extends PromoteError {
  override readonly exitCode: number = 5;
}

/** `pulumi up` failed, or the watch could not judge the new version (exit 4). */
export class DeployFailedError extends PromoteError {
  override readonly exitCode: number = 4;
}

/** A version a rollback marked bad: refused until `make unmark-bad` (exit 3; FORCE=1 does not override it). */
export class BadVersionError extends PromoteError {
  override readonly exitCode: number = 3;
}
