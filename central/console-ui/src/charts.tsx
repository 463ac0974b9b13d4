import { useEffect, useMemo, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Decision } from './api';

/** The minutes the chart spans, up to now. */
const MINUTES = 30;

export interface PerMinute {
  /** each minute's start, seconds (uPlot's x) */
  minutes: number[];
  online: number[];
  offline: number[];
}

/** The decisions of the last MINUTES minutes counted per minute, online and offline (by when they were decided). */
export function perMinute(list: Decision[], now: number): PerMinute {
  const last = Math.floor(now / 60_000);
  const first = last - MINUTES + 1;
  const out: PerMinute = { minutes: [], online: [], offline: [] };
  for (let m = first; m <= last; m++) {
    out.minutes.push(m * 60);
    out.online.push(0);
    out.offline.push(0);
  }
  for (const d of list) {
    const i = Math.floor(Date.parse(d.at) / 60_000) - first;
    if (i < 0 || i >= MINUTES) continue;
    const counts = d.mode === 'offline' ? out.offline : out.online;
    counts[i] = (counts[i] ?? 0) + 1;
  }
  return out;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** What the chart says, in words (its accessible name). */
export function describe(p: PerMinute): string {
  return (
    `Authorizations per minute, last ${MINUTES} minutes: ${sum(p.online)} online, ${sum(p.offline)} offline; ` +
    `this minute ${p.online.at(-1) ?? 0} online, ${p.offline.at(-1) ?? 0} offline`
  );
}

/**
 * Authorizations per minute, online and offline, from the decisions the page holds (the last 200 and those the
 * stream brings). Drawn by uPlot on a canvas; its stylesheet is bundled (the CSP allows no inline style sheet).
 */
export function AuthzChart({ list, now }: { list: Decision[]; now: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const minute = Math.floor(now / 60_000);
  const data = useMemo(() => perMinute(list, now), [list, minute]);

  useEffect(() => {
    if (!box.current) return undefined;
    const css = getComputedStyle(document.documentElement);
    const ok = css.getPropertyValue('--ok').trim() || '#0b6b2f';
    const accent = css.getPropertyValue('--accent').trim() || '#0a4fa6';
    plot.current = new uPlot(
      {
        width: Math.max(240, box.current.clientWidth),
        height: 160,
        legend: { show: true, live: false },
        cursor: { show: false },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{}, { size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] }],
        series: [
          {},
          { label: 'online', stroke: ok, width: 2 },
          { label: 'offline', stroke: accent, width: 2, dash: [6, 4] },
        ],
      },
      [[], [], []],
      box.current,
    );
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData([data.minutes, data.online, data.offline]);
  }, [data]);

  const label = describe(data);
  return (
    <figure class="chart">
      <figcaption>Authorizations per minute</figcaption>
      <div ref={box} role="img" aria-label={label} data-online={sum(data.online)} data-offline={sum(data.offline)} />
    </figure>
  );
}
