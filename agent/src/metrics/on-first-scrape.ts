/** What a scrape reads: the exposition's content type and text (AgentMetrics fits). */
export interface MetricsSource {
  contentType(): string;
  text(): Promise<string>;
}

/** The status server's GET /metrics hook. */
export type MetricsHook = () => Promise<{ contentType: string; body: string }>;

/**
 * The /metrics hook, its source loaded at the first scrape: prom-client and the agent's gauges stay out of an agent
 * nobody scrapes (about 2 MB of the packaged agent's resident memory, and their load before the ports open). Every
 * gauge of the agent reads its figure at scrape time, so nothing is lost before then; the process's default metrics
 * (garbage collections, event-loop delay) count from the first scrape, which Prometheus reads as a counter's start.
 * Scrapes that arrive while it loads share the one load; a load that failed is tried again at the next scrape.
 */
export function metricsOnFirstScrape(load: () => Promise<MetricsSource>): MetricsHook {
  let source: Promise<MetricsSource> | undefined;
  return async () => {
    const loading = (source ??= load());
    let metrics: MetricsSource;
    try {
      metrics = await loading;
    } catch (err) {
      if (source === loading) source = undefined;
      throw err;
    }
    return { contentType: metrics.contentType(), body: await metrics.text() };
  };
}
