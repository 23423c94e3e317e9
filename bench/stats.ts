/** Latency samples and the summaries the report shows. */

/** A growable list of numbers (milliseconds), cheap to append a million times. */
export class Samples {
  private values = new Float64Array(1024);
  private count = 0;

  add(value: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = value;
  }

  get length(): number {
    return this.count;
  }

  summary(): LatencySummary | null {
    if (this.count === 0) return null;
    const sorted = this.values.slice(0, this.count).sort();
    return {
      p50: percentileOfSorted(sorted, 50),
      p99: percentileOfSorted(sorted, 99),
      max: sorted[sorted.length - 1] as number,
      samples: this.count,
    };
  }

  clear(): void {
    this.count = 0;
  }
}

export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

/** Nearest-rank percentile of ascending values (p in 0..100). */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** The median of some runs; NaN and null runs (not measured) are left out. */
export function median(values: readonly (number | null | undefined)[]): number | null {
  const measured = values
    .filter((value): value is number => typeof value === "number" && !Number.isNaN(value))
    .sort((a, b) => a - b);
  if (measured.length === 0) return null;
  const middle = measured.length >> 1;
  if (measured.length % 2 === 1) return measured[middle] as number;
  return ((measured[middle - 1] as number) + (measured[middle] as number)) / 2;
}
