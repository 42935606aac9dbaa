/** Active health of one endpoint; lives on the endpoint so it survives snapshots. New endpoints start healthy. */
export class HealthState {
  healthy = true;
  /** Probe results in a row of the kind that would flip `healthy`. */
  successes = 0;
  failures = 0;
  /** A probe is in flight (probes of one endpoint never overlap). */
  probing = false;

  /** Records one probe result; returns true when `healthy` flipped. */
  record(ok: boolean, healthyThreshold: number, unhealthyThreshold: number): boolean {
    if (ok) {
      this.failures = 0;
      if (this.healthy) return false;
      if (++this.successes < healthyThreshold) return false;
      this.successes = 0;
      this.healthy = true;
      return true;
    }
    this.successes = 0;
    if (!this.healthy) return false;
    if (++this.failures < unhealthyThreshold) return false;
    this.failures = 0;
    this.healthy = false;
    return true;
  }

  reset(): void {
    this.healthy = true;
    this.successes = 0;
    this.failures = 0;
  }
}
