// What a write would change: one comparison for the catalog's updates, single and bulk.

/** JSON with object keys sorted: jsonb stores keys in its own order, so plain stringify is no comparison. */
function canonical(value: unknown): string {
  return JSON.stringify(value ?? null, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  )
}
export const sameValue = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b)

/** The fields of `wanted` whose values differ from `current` (absent fields are no change). */
export function changedFields<T extends Record<string, unknown>>(current: T, wanted: Partial<T>): Partial<T> {
  const patch: Partial<T> = {}
  for (const [k, v] of Object.entries(wanted)) {
    if (v !== undefined && !sameValue(v, current[k])) (patch as Record<string, unknown>)[k] = v
  }
  return patch
}
