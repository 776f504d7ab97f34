// Facts about the caller that a Web Request does not carry by itself.

const socketAddresses = new WeakMap<Request, string>()

/** The local server records the socket address of each request it adapts. */
export function setSocketAddress(request: Request, address: string | undefined): void {
  if (address) socketAddresses.set(request, address)
}

/**
 * On Vercel the platform sets x-forwarded-for (first value is the client). Anywhere else a forwarding
 * header is client-controlled, so only the socket address counts.
 */
export function clientIp(request: Request): string {
  if (process.env.VERCEL) {
    const fwd = request.headers.get('x-forwarded-for')?.split(',')[0]?.trim()
    if (fwd) return fwd
  }
  return socketAddresses.get(request) ?? 'unknown'
}

export function userAgent(request: Request): string | null {
  return request.headers.get('user-agent')?.slice(0, 512) ?? null
}
