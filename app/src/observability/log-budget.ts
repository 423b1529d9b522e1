/**
 * A token bucket for log lines that clients can cause at will (4xx access lines, malformed HTTP): at most
 * `perSecond` a second, with bursts of as many, so log volume never depends on how much a client sends.
 * Lines over the budget are counted, not written.
 */
export class LogBudget {
  private tokens: number;
  private last = Date.now();

  constructor(
    private readonly perSecond: number,
    private readonly onSuppressed: () => void,
  ) {
    this.tokens = perSecond;
  }

  /** True when a line may be written now; otherwise counts it as suppressed. */
  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens--;
      return true;
    }
    this.onSuppressed();
    return false;
  }
}
