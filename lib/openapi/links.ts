import type { RouteSpec } from '../http/route.js'

// OpenAPI links from an operation that creates an object to every operation that takes the new object's
// id as a path parameter (read it, act on it, its sub-resources), so a client or a stateful tester can
// walk an object's life: order -> pay, fulfil, ship, refund, return; product -> variants, inventory.
// A route declares `creates: '<path parameter>'`; the id is the `id` of its response body, and the
// target's other path parameters come from the creating request's own path (a variant's product_id).

export interface Operation {
  path: string
  spec: RouteSpec
  op: Record<string, unknown>
}

const pathParams = (path: string): string[] => [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string)

export function linkCreatedResources(operations: readonly Operation[]): void {
  for (const source of operations) {
    const param = source.spec.creates
    if (!param) continue
    const known = new Set(pathParams(source.path))
    const links: Record<string, unknown> = {}
    for (const target of operations) {
      const needed = pathParams(target.path)
      if (target === source || !needed.includes(param)) continue
      if (!needed.every((p) => p === param || known.has(p))) continue
      const operationId = target.op.operationId as string
      links[operationId] = {
        operationId,
        parameters: Object.fromEntries(
          needed.map((p) => [p, p === param ? '$response.body#/id' : `$request.path.${p}`]),
        ),
        description: `${target.spec.summary}: the object this request created`,
      }
    }
    if (!Object.keys(links).length) {
      throw new Error(`${source.spec.path}: creates ${param}, but no operation takes {${param}}`)
    }
    const responses = source.op.responses as Record<string, Record<string, unknown>>
    const created = responses[String(source.spec.status ?? 200)] as Record<string, unknown>
    created.links = links
  }
}
