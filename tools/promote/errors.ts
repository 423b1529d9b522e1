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
