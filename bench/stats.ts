// Small statistics for the bench: the median of runs with their spread, and ratios run by run.

export interface Spread {
  median: number
  min: number
  max: number
}

/** Median (mean of the middle two for an even count), min and max; NaN for no values. */
export function spread(values: readonly number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN }
  const mid = finite.length >> 1
  const median = finite.length % 2 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2
  return { median, min: finite[0]!, max: finite[finite.length - 1]! }
}

/** a[i] / b[i] for each run measured in the same round: pairs measured close in time, so drift cancels. */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.min(a.length, b.length)
  return Array.from({ length: n }, (_, i) => (b[i]! > 0 ? a[i]! / b[i]! : Number.NaN))
}

/** Per-request rate of a counter between two snapshots; NaN when no request was served. */
export const perRequest = (delta: number, requests: number): number =>
  requests > 0 ? delta / requests : Number.NaN
