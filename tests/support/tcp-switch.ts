import { createConnection, createServer, type Socket } from 'node:net'

// A TCP relay for fault tests: `pass` pipes every connection to the target; `blackhole` accepts the
// connection, reads what the client sends and never answers (a network brownout as clients meet it: the
// connection opens, the request leaves, nothing comes back). Going back to `pass` resets the connections
// that were dark (as a middlebox that lost their state would; a client opens new ones). Counts the HTTP
// requests that arrive in either mode, so a test can assert that a client sent none.

export interface TcpSwitch {
  url: string
  readonly mode: 'pass' | 'blackhole'
  setMode(mode: 'pass' | 'blackhole'): void
  /** HTTP requests seen (request lines counted in the bytes received), in either mode */
  requests: number
  connections: number
  close(): Promise<void>
}

const REQUEST_LINE = /(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) \/\S* HTTP\/1\.[01]\r\n/g

export async function startTcpSwitch(target: { host: string; port: number }): Promise<TcpSwitch> {
  const sockets = new Set<Socket>()
  const dark = new Set<Socket>()
  let mode: TcpSwitch['mode'] = 'pass'
  const sw: TcpSwitch = {
    url: '',
    get mode() {
      return mode
    },
    setMode(next) {
      mode = next
      if (next === 'pass') for (const s of dark) s.destroy()
    },
    requests: 0,
    connections: 0,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  const server = createServer((client) => {
    sw.connections++
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => {})
    let tail = ''
    const count = (chunk: Buffer) => {
      const text = tail + chunk.toString('latin1')
      sw.requests += text.match(REQUEST_LINE)?.length ?? 0
      tail = text.slice(-40)
    }
    if (mode === 'blackhole') {
      dark.add(client)
      client.on('close', () => dark.delete(client))
      client.on('data', count)
      return
    }
    const upstream = createConnection(target)
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    upstream.on('error', () => client.destroy())
    client.on('data', (chunk) => {
      count(chunk)
      // a connection opened while passing goes dark with the switch
      if (mode === 'blackhole') {
        dark.add(client)
        return
      }
      upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      if (mode === 'pass') client.write(chunk)
    })
    client.on('close', () => upstream.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as { port: number }
  sw.url = `http://127.0.0.1:${port}`
  return sw
}
