import { existsSync, readFileSync } from 'node:fs'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SCALAR_BUNDLE_PATH } from '../../lib/openapi/reference-page.js'
import { type DevServer, startDevServer } from '../support/dev-server.js'
import { ROOT } from '../support/http.js'

// The reference page as a reader meets it: GET /api/docs in headless Chromium renders the OpenAPI
// document with Scalar, lists the operations, and its request panel sends GET /api/v1/health to this
// server and shows the answer. Every request the page makes is watched: one that leaves the server's
// origin (a CDN, web fonts, telemetry) is blocked and fails the test.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
type Doc = {
  tags: Array<{ name: string }>
  paths: Record<string, Record<string, { summary: string; tags: string[] }>>
}
const doc = JSON.parse(readFileSync(`${ROOT}/lib/openapi/openapi.json`, 'utf8')) as Doc

let dev: DevServer
let browser: Browser
let page: Page
const requested: string[] = []
const leftOrigin: string[] = []

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`)
  dev = await startDevServer({ DATABASE_URL: undefined, DATABASE_URL_UNPOOLED: undefined })
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  const context = await browser.newContext()
  const origin = new URL(dev.base).origin
  await context.route('**/*', (route) => {
    const url = route.request().url()
    requested.push(`${route.request().method()} ${url}`)
    if (new URL(url).origin === origin) return route.continue()
    leftOrigin.push(url)
    return route.abort('blockedbyclient')
  })
  context.on('websocket' as never, (ws: { url(): string }) => leftOrigin.push(ws.url()))
  page = await context.newPage()
})

afterAll(async () => {
  await browser?.close()
  await dev?.stop()
})

describe('GET /api/docs in a browser', () => {
  it('serves the page and the Scalar bundle from this origin, with a policy that allows no other', async () => {
    const res = await fetch(`${dev.base}/api/docs`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    const csp = res.headers.get('content-security-policy')!
    expect(csp).toContain("connect-src 'self'")
    expect(csp).toContain("default-src 'none'")
    const html = await res.text()
    expect(html).toContain(`src="${SCALAR_BUNDLE_PATH}"`)
    expect(html).toContain('"withDefaultFonts":false')
    const bundle = await fetch(`${dev.base}${SCALAR_BUNDLE_PATH}`)
    expect(bundle.status).toBe(200)
    expect(await bundle.text()).toContain('createApiReference')
  })

  it('lists the operations, sends GET /api/v1/health from the request panel and shows the answer', async () => {
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    // a load the page's policy refused never reaches the network (nor the route above): the browser
    // reports it on the console instead, and it counts as an attempt to leave the origin
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) leftOrigin.push(m.text())
    })
    await page.goto(`${dev.base}/api/docs`)
    await expect(page.title()).resolves.toBe('Commerce API reference')
    await page.getByText('Introduction').first().waitFor({ timeout: 60_000 })

    // every tag of the document is a group of the sidebar (the first one open)
    for (const tag of doc.tags)
      await page
        .getByRole('button', { name: new RegExp(`^(Open|Close) Group - ${tag.name}$`) })
        .first()
        .waitFor({ state: 'attached' })
    // the health group lists each of its operations by summary
    await page.getByRole('button', { name: 'Open Group - health' }).first().click()
    const healthOps = Object.values(doc.paths)
      .flatMap((ops) => Object.values(ops))
      .filter((op) => op.tags?.includes('health'))
    expect(healthOps.length).toBeGreaterThan(2)
    for (const op of healthOps)
      await page
        .getByRole('link', { name: new RegExp(`^${op.summary} HTTP Method`) })
        .first()
        .waitFor()

    // the request panel: open Liveness, send, and see the server's answer
    await page
      .getByRole('link', { name: /^Liveness HTTP Method/ })
      .first()
      .click()
    await page
      .getByRole('button', { name: /^Test Request\s*\(get \/api\/v1\/health\)$/ })
      .first()
      .click()
    const answered = page.waitForResponse(
      (r) => new URL(r.url()).pathname === '/api/v1/health' && r.request().method() === 'GET',
    )
    await page
      .getByRole('button', { name: /^Send get request to / })
      .first()
      .click()
    const response = await answered
    expect(response.status()).toBe(200)
    await page.getByText('200 OK').first().waitFor()
    await page.getByText('"healthy"').first().waitFor()

    expect(requested.some((r) => r.endsWith('/api/v1/openapi.json'))).toBe(true)
    expect(leftOrigin, `requests that left ${dev.base}`).toEqual([])
    expect(errors).toEqual([])
  })
})
