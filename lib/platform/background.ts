import { waitUntil } from '@vercel/functions'

// Work that runs after the response (metrics, outbox delivery). On Vercel waitUntil keeps the instance
// alive until it settles; locally the promise simply runs. Tests await flushBackground().
const pending = new Set<Promise<unknown>>()

export function afterResponse(task: () => Promise<unknown>): void {
  const p = Promise.resolve()
    .then(task)
    .catch(() => {
      // The task logs its own failures; a background failure never reaches the client.
    })
    .finally(() => pending.delete(p))
  pending.add(p)
  waitUntil(p)
}

export async function flushBackground(): Promise<void> {
  while (pending.size > 0) await Promise.all([...pending])
}
