/**
 * docs/benchmarks.svg, written by hand: two panels (deliveries per second in the capacity
 * window, p99 latency at the latency rate) against the number of clients, one line per system.
 */
import { systemsInOrder } from "./report.js";
import type { Results } from "./results.js";
import { SYSTEM_LABELS, type SystemName } from "./systems/system.js";

const COLORS: Record<SystemName, string> = {
  "nuts-caddy": "#d9480f",
  "nuts-caddy-http1": "#a61e4d",
  "nuts-direct": "#f08c00",
  "nuts-direct-metrics": "#e8590c",
  "mercure-caddy": "#7048e8",
  nchan: "#1971c2",
  baseline: "#868e96",
};

const PANEL = { width: 420, height: 280, left: 70, right: 20, top: 40, bottom: 50 };

interface Series {
  name: SystemName;
  points: [number, number][];
}

export function renderChart(results: Results): string {
  const systems = systemsInOrder(results);
  const deliveries: Series[] = systems.map(([name, system]) => ({
    name,
    points: system.fanout.map((step) => [step.clients, step.capacity.deliveriesPerSec]),
  }));
  const latency: Series[] = systems.map(([name, system]) => ({
    name,
    points: system.fanout.flatMap((step): [number, number][] =>
      step.latency.p99Ms === null ? [] : [[step.clients, step.latency.p99Ms]],
    ),
  }));
  const width = PANEL.width * 2;
  const legend = legendPlaces(
    systems.map(([name]) => name),
    width,
  );
  const height = PANEL.height + 15 + (legend.at(-1)?.row ?? 0) * LEGEND_ROW + 15;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    panel(deliveries, 0, "deliveries per second (capacity window)", ""),
    panel(latency, PANEL.width, "p99 latency, ms (10 msg/s)", ""),
  ];
  for (const { name, x, row } of legend) {
    const y = PANEL.height + 15 + row * LEGEND_ROW;
    parts.push(
      `<line x1="${x}" y1="${y}" x2="${x + 20}" y2="${y}" stroke="${COLORS[name]}" stroke-width="3"/>`,
      `<text x="${x + 26}" y="${y + 4}">${escapeXml(SYSTEM_LABELS[name])}</text>`,
    );
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

const LEGEND_ROW = 20;

/** Legend entries left to right, on as many rows as it takes to stay inside the width. */
function legendPlaces(
  names: SystemName[],
  width: number,
): { name: SystemName; x: number; row: number }[] {
  const places: { name: SystemName; x: number; row: number }[] = [];
  let x = PANEL.left;
  let row = 0;
  for (const name of names) {
    const entryWidth = 40 + SYSTEM_LABELS[name].length * 7;
    if (x > PANEL.left && x + entryWidth > width) {
      x = PANEL.left;
      row++;
    }
    places.push({ name, x, row });
    x += entryWidth;
  }
  return places;
}

function panel(series: Series[], offsetX: number, title: string, unit: string): string {
  const all = series.flatMap((line) => line.points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const xMax = Math.max(1, ...xs);
  const yMax = niceCeiling(Math.max(1, ...ys));
  const plotWidth = PANEL.width - PANEL.left - PANEL.right;
  const plotHeight = PANEL.height - PANEL.top - PANEL.bottom;
  const sx = (x: number) => offsetX + PANEL.left + (x / xMax) * plotWidth;
  const sy = (y: number) => PANEL.top + plotHeight - (y / yMax) * plotHeight;
  const parts: string[] = [
    `<text x="${offsetX + PANEL.left}" y="${PANEL.top - 15}" font-weight="bold">${escapeXml(title)}</text>`,
    `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(xMax)}" y2="${sy(0)}" stroke="#333"/>`,
    `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(0)}" y2="${sy(yMax)}" stroke="#333"/>`,
    `<text x="${sx(xMax / 2)}" y="${PANEL.height - 12}" text-anchor="middle">clients</text>`,
  ];
  for (let tick = 0; tick <= 4; tick++) {
    const value = (yMax * tick) / 4;
    const y = sy(value);
    parts.push(
      `<line x1="${sx(0)}" y1="${y}" x2="${sx(xMax)}" y2="${y}" stroke="#e9ecef"/>`,
      `<text x="${sx(0) - 6}" y="${y + 4}" text-anchor="end">${short(value)}${unit}</text>`,
    );
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    parts.push(`<text x="${sx(x)}" y="${sy(0) + 16}" text-anchor="middle">${short(x)}</text>`);
  }
  for (const line of series) {
    if (line.points.length === 0) continue;
    const path = line.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    parts.push(
      `<polyline points="${path}" fill="none" stroke="${COLORS[line.name]}" stroke-width="2.5"/>`,
    );
    for (const [x, y] of line.points) {
      parts.push(
        `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${COLORS[line.name]}"><title>${escapeXml(SYSTEM_LABELS[line.name])}: ${short(y)} at ${short(x)} clients</title></circle>`,
      );
    }
  }
  return parts.join("\n");
}

/** 1, 2, 2.5 or 5 times a power of ten, at or above the value. */
function niceCeiling(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function short(value: number): string {
  if (value >= 1e6) return `${+(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
  if (value >= 10) return String(Math.round(value));
  return String(+value.toFixed(2));
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
