// WebSocket-to-TCP proxy so the Neon serverless driver (WebSocket mode) can reach a plain local PostgreSQL.
// The driver opens `ws://localhost:PORT/v1` (or `.../v1?address=host:port` when `neonConfig.wsProxy` is a
// string) and speaks the PostgreSQL wire protocol in binary frames. This proxy only ever connects to the
// configured PostgreSQL server: an `address` naming anything else is refused (never an open proxy).
import { createServer, type IncomingMessage } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { type WebSocket, WebSocketServer } from 'ws'

export interface WsProxy {
  port: number
  /** Value for `neonConfig.wsProxy`, e.g. `localhost:54321/v1`. */
  url: string
  close(): Promise<void>
}

const HIGH_WATER = 1024 * 1024 // pause PostgreSQL reads when this much is queued for the browser side
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1'])

function sameHost(a: string, b: string): boolean {
  return a === b || (LOOPBACK.has(a) && LOOPBACK.has(b))
}

/** Is the request's `address` (if any) the configured server? */
function allowed(req: IncomingMessage, pgHost: string, pgPort: number): boolean {
  const url = new URL(req.url ?? '/', 'http://proxy')
  if (url.pathname !== '/v1' && url.pathname !== '/v2') return false
  const address = url.searchParams.get('address')
  if (address === null) return true
  const colon = address.lastIndexOf(':')
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  return colon > 0 && Number(address.slice(colon + 1)) === pgPort && sameHost(host, pgHost)
}

function refuse(socket: Duplex, status: string): void {
  socket.on('error', () => {})
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

function pipe(ws: WebSocket, pg: Socket): void {
  pg.setNoDelay(true)
  // client -> PostgreSQL; stop reading frames while the TCP socket is full
  ws.on('message', (data) => {
    if (!pg.write(data as Buffer) && !ws.isPaused) {
      ws.pause()
      pg.once('drain', () => ws.resume())
    }
  })
  // PostgreSQL -> client; stop reading TCP while too much waits to be sent
  pg.on('data', (chunk) => {
    ws.send(chunk, { binary: true }, () => {
      if (pg.isPaused() && ws.bufferedAmount < HIGH_WATER / 2) pg.resume()
    })
    if (ws.bufferedAmount > HIGH_WATER) pg.pause()
  })
  ws.on('close', () => pg.end())
  ws.on('error', () => pg.destroy())
  pg.on('close', (hadError) => {
    if (ws.readyState === ws.OPEN) ws.close(hadError ? 1011 : 1000)
    else ws.terminate()
  })
  pg.on('error', () => {}) // followed by 'close', which closes the WebSocket
}

export async function startWsProxy(
  opts: { port?: number; pgHost?: string; pgPort?: number } = {},
): Promise<WsProxy> {
  const { port = 0, pgHost = '127.0.0.1', pgPort = 5432 } = opts
  const sockets = new Set<Socket>()
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
  const server = createServer((_req, res) => {
    res.writeHead(426, { Connection: 'close' }).end('WebSocket upgrade required\n')
  })

  server.on('upgrade', (req, socket, head) => {
    if (!allowed(req, pgHost, pgPort)) return refuse(socket, '403 Forbidden')
    wss.handleUpgrade(req, socket, head, (ws) => {
      const pg = connect({ host: pgHost, port: pgPort })
      sockets.add(pg)
      pg.on('close', () => sockets.delete(pg))
      pipe(ws, pg)
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('ws proxy: no TCP address')

  return {
    port: address.port,
    url: `localhost:${address.port}/v1`,
    async close() {
      for (const ws of wss.clients) ws.terminate()
      for (const pg of sockets) pg.destroy()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
