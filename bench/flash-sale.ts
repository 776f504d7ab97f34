// `npm run bench -- --scenario flash-sale`: a flash sale on PostgreSQL and Redis on this machine. For one
// product, 500 signed-in buyers and 100 guests send POST /orders at once (one unit each), with and
// without a discount code, with 100 units in stock (most are refused 409 out_of_stock) and with 10,000
// (everyone buys). Per wave: orders per second, p50/p99 of the 201s and of the 409s, how long each
// checkout held the product's row (bench/instrument.ts: from the end of the stock statement to the end of
// its COMMIT, and from its start, lock wait included), 5xx, and the oversell check (the ledger's sales in
// the wave never above the stock; stock after = stock before - sales). Figures, not assertions: the exit
// code is 1 only for an oversell, a 5xx or an answer other than 201/409 out_of_stock.
//
// Usage: npm run bench -- --scenario flash-sale [--rounds 3] [--buyers 500] [--guests 100]
//                        [--stock 100,10000] [--keep-database]
import { parseArgs } from 'node:util'
import { sql } from 'drizzle-orm'
import * as schema from '../db/schema/index.js'
import { hashPassword } from '../lib/auth/password.js'
import { rowsOf } from '../lib/platform/db.js'
import { BENCH_CUSTOMER_PASSWORD, benchCustomerEmail, seedBenchScale } from './catalog-seed.js'
import { BENCH_ADDRESS, percentile, runScenario, say, signIn } from './harness.js'

const { values } = parseArgs({
  options: {
    scenario: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    buyers: { type: 'string', default: '500' },
    guests: { type: 'string', default: '100' },
    stock: { type: 'string', default: '100,10000' },
    'keep-database': { type: 'boolean', default: false },
  },
})
const rounds = Number(values.rounds)
const buyerCount = Number(values.buyers)
const guestCount = Number(values.guests)
const stocks = values.stock.split(',').map(Number)
const CODE = 'FLASH10'

await runScenario('flash-sale', { keepDatabase: values['keep-database'] }, async (bench) => {
  let failed = false
  await seedBenchScale(bench.db, {
    products: 50,
    customers: buyerCount,
    orders: 50,
    passwordHash: await hashPassword(BENCH_CUSTOMER_PASSWORD),
  })
  const [product] = rowsOf<{ id: string }>(
    await bench.db.execute(sql`select id from products where sku = 'BENCH-O-1'`),
  )
  await bench.db.insert(schema.discounts).values({ code: CODE, type: 'percentage', percentBps: 1000 })
  const app = await bench.startApp()
  say(`signing in ${buyerCount} buyers`)
  const buyers: string[] = []
  for (let i = 0; i < buyerCount; i += 8) {
    const batch = Array.from({ length: Math.min(8, buyerCount - i) }, (_, j) =>
      signIn(app.api, benchCustomerEmail(i + j), BENCH_CUSTOMER_PASSWORD),
    )
    buyers.push(...(await Promise.all(batch)))
  }
  const address = BENCH_ADDRESS

  interface Answer {
    status: number
    code: string | null
    ms: number
  }
  let wave = 0
  async function runWave(stock: number, withCode: boolean) {
    wave++
    await bench.db.execute(sql`update products set inventory_quantity = ${stock} where id = ${product!.id}`)
    const salesSoFar = async () =>
      Number(
        rowsOf<{ n: string | number }>(
          await bench.db.execute(
            sql`select coalesce(sum(-delta), 0) as n from inventory_ledger where product_id = ${product!.id} and reason = 'sale'`,
          ),
        )[0]!.n,
      )
    const salesBefore = await salesSoFar()
    const holdBefore = (await app.stats()).stockHold.afterTakeMs.length
    const body = (guest: number | null) =>
      JSON.stringify({
        items: [{ product_id: product!.id, quantity: 1 }],
        shipping_address: address,
        ...(guest === null ? {} : { customer_email: `flash-guest-${wave}-${guest}@example.com` }),
        ...(withCode ? { discount_code: CODE } : {}),
      })
    const one = async (headers: Record<string, string>, payload: string): Promise<Answer> => {
      const started = performance.now()
      const res = await fetch(`${app.api}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: payload,
      })
      const text = await res.text()
      const ms = performance.now() - started
      let parsed: { code?: string } = {}
      try {
        parsed = JSON.parse(text)
      } catch {
        // a non-JSON answer is counted by its status
      }
      return {
        status: res.status,
        code: parsed.code ?? null,
        ms,
      }
    }
    // Everyone at once: the requests are built first, then sent in one tick.
    const requests = [
      ...buyers.map((auth) => [{ authorization: auth }, body(null)] as const),
      ...Array.from({ length: guestCount }, (_, g) => [{}, body(g)] as const),
    ]
    const started = performance.now()
    const answers = await Promise.all(requests.map(([h, b]) => one(h, b)))
    const seconds = (performance.now() - started) / 1000
    const created = answers.filter((a) => a.status === 201)
    const refused = answers.filter((a) => a.status === 409 && a.code === 'out_of_stock')
    const other = answers.filter((a) => !created.includes(a) && !refused.includes(a))
    const serverErrors = answers.filter((a) => a.status >= 500).length
    // Oversell: the units the ledger sold in this wave never exceed the stock, and the stock after is the
    // stock before minus them. An order committed but not answered 201 (a 5xx after the commit) shows as
    // sold above the 201s.
    const sold = (await salesSoFar()) - salesBefore
    const [row] = rowsOf<{ after: string | number }>(
      await bench.db.execute(sql`select inventory_quantity as after from products where id = ${product!.id}`),
    )
    const after = Number(row!.after)
    const oversold = sold > stock || after < 0 || after !== stock - sold
    const hold = (await app.stats()).stockHold
    const afterTake = hold.afterTakeMs.slice(holdBefore)
    const fromTake = hold.fromTakeMs.slice(holdBefore)
    if (oversold || serverErrors > 0 || other.length > 0) failed = true
    const r1 = (n: number) => Math.round(n * 10) / 10
    return {
      stock,
      discount: withCode,
      requests: answers.length,
      created: created.length,
      outOfStock: refused.length,
      other: other.map((a) => `${a.status} ${a.code ?? ''}`.trim()),
      serverErrors,
      seconds: r1(seconds),
      ordersPerSecond: r1(created.length / seconds),
      createdMs: {
        p50: r1(
          percentile(
            created.map((a) => a.ms),
            50,
          ),
        ),
        p99: r1(
          percentile(
            created.map((a) => a.ms),
            99,
          ),
        ),
      },
      outOfStockMs: {
        p50: r1(
          percentile(
            refused.map((a) => a.ms),
            50,
          ),
        ),
        p99: r1(
          percentile(
            refused.map((a) => a.ms),
            99,
          ),
        ),
      },
      holdAfterTakeMs: {
        p50: r1(percentile(afterTake, 50)),
        p99: r1(percentile(afterTake, 99)),
        n: afterTake.length,
      },
      holdFromTakeMs: { p50: r1(percentile(fromTake, 50)), p99: r1(percentile(fromTake, 99)) },
      sold,
      soldWithout201: sold - created.length,
      stockAfter: after,
      oversold,
    }
  }

  const waves: Array<Awaited<ReturnType<typeof runWave>>> = []
  // A warm-up wave (not reported): connections, prepared caches, JIT.
  await runWave(10_000, false)
  for (let round = 0; round < rounds; round++) {
    for (const stock of stocks) {
      for (const withCode of [false, true]) {
        const w = await runWave(stock, withCode)
        waves.push(w)
        say(
          `stock ${stock}${withCode ? ' + code' : ''}: ${w.created} orders, ${w.outOfStock} out_of_stock, ${w.serverErrors} 5xx` +
            `${w.other.length ? `, other: ${w.other.slice(0, 3).join(', ')}` : ''}; ${w.ordersPerSecond} orders/s; ` +
            `201 p50 ${w.createdMs.p50} ms p99 ${w.createdMs.p99} ms; 409 p50 ${w.outOfStockMs.p50} ms p99 ${w.outOfStockMs.p99} ms; ` +
            `row held after the take p50 ${w.holdAfterTakeMs.p50} ms p99 ${w.holdAfterTakeMs.p99} ms (from the take p50 ${w.holdFromTakeMs.p50} ms); ` +
            `sold ${w.sold}${w.oversold ? ' OVERSOLD' : ''}`,
        )
      }
    }
  }
  const median = (xs: number[]) => percentile(xs, 50)
  const summary = stocks.flatMap((stock) =>
    [false, true].map((discount) => {
      const ws = waves.filter((w) => w.stock === stock && w.discount === discount)
      return {
        stock,
        discount,
        waves: ws.length,
        ordersPerSecond: median(ws.map((w) => w.ordersPerSecond)),
        createdP50Ms: median(ws.map((w) => w.createdMs.p50)),
        createdP99Ms: median(ws.map((w) => w.createdMs.p99)),
        outOfStockP99Ms: median(ws.map((w) => w.outOfStockMs.p99)),
        holdAfterTakeP50Ms: median(ws.map((w) => w.holdAfterTakeMs.p50)),
        holdAfterTakeP99Ms: median(ws.map((w) => w.holdAfterTakeMs.p99)),
        holdFromTakeP50Ms: median(ws.map((w) => w.holdFromTakeMs.p50)),
        oversold: ws.filter((w) => w.oversold).length,
        serverErrors: ws.reduce((s, w) => s + w.serverErrors, 0),
      }
    }),
  )
  console.table(summary)
  return {
    failed,
    results: { settings: { rounds, buyers: buyerCount, guests: guestCount, stocks }, summary, waves },
  }
})
