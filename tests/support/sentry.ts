import { createServer } from 'node:http'
import { gunzipSync } from 'node:zlib'

// A stand-in for Sentry's ingest on this machine: a DSN pointing at it makes @sentry/node's own transport
// (node:https/node:http with its own agent, which MSW does not see) deliver its envelopes here, where a
// test reads exactly what would have left. It answers as Sentry does: 200 with the event id.

export interface Envelope {
  header: Record<string, unknown>
  items: Array<{ header: { type?: string }; payload: unknown }>
  /** The envelope as sent (after gzip, if the SDK compressed it). */
  raw: string
}

export interface FakeSentry {
  dsn: string
  /** The request path of the DSN's envelope endpoint. */
  envelopePath: string
  envelopes: Envelope[]
  close(): Promise<void>
}

export function parseEnvelope(raw: string): Envelope {
  const lines = raw.split('\n').filter((l) => l !== '')
  const header = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>
  const items: Envelope['items'] = []
  for (let i = 1; i + 1 < lines.length; i += 2) {
    items.push({ header: JSON.parse(lines[i]!), payload: JSON.parse(lines[i + 1]!) })
  }
  return { header, items, raw }
}

export async function startFakeSentry(): Promise<FakeSentry> {
  const publicKey = '0123456789abcdef0123456789abcdef'
  const project = '4508000000000001'
  const envelopePath = `/api/${project}/envelope/`
  const envelopes: Envelope[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://sentry').pathname
      if (req.method !== 'POST' || path !== envelopePath) {
        res.writeHead(404).end()
        return
      }
      const body = Buffer.concat(chunks)
      const text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8')
      const envelope = parseEnvelope(text)
      envelopes.push(envelope)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ id: envelope.header.event_id ?? null }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    dsn: `http://${publicKey}@127.0.0.1:${port}/${project}`,
    envelopePath,
    envelopes,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
