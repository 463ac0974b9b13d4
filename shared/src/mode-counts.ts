/** What `setModeCounts` needs of a gauge (prom-client's Gauge fits). */
export interface LabelledGauge {
  reset(): void;
  set(labels: Record<string, string>, value: number): void;
}

/** Counts per mode — online (decided by the hub) and offline (by an agent on its own) — each by outcome. */
export interface ModeCounts {
  online: Record<string, number>;
  offline: Record<string, number>;
}

/**
 * Sets `gauge` to `counts`, one series per mode and outcome (the outcome under the label `label`);
 * the gauge is reset first, so an outcome no longer counted leaves no series behind. The agent's
 * return decisions and the hub's return authorizations are shown this way at each scrape.
 */
export function setModeCounts(gauge: LabelledGauge, counts: ModeCounts, label: string): void {
  gauge.reset();
  for (const mode of ['online', 'offline'] as const)
    for (const [outcome, n] of Object.entries(counts[mode])) gauge.set({ mode, [label]: outcome }, n);
}
