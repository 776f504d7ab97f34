import { createHash, timingSafeEqual } from 'node:crypto'
import { unauthorized } from '../http/errors.js'
import { env, isDeployed } from '../platform/env.js'

// Who may run a cron job. Vercel calls each scheduled path with `Authorization: Bearer $CRON_SECRET`;
// nobody else knows the secret. Without one (development only: a deployed function refuses to serve
// without CRON_SECRET) the jobs answer callers on this machine only, so `curl localhost` runs them.

/** Throws a 401 unless the request comes from the scheduler (or, without a secret, from this machine). */
export function assertCronCaller(request: Request, ip: string): void {
  const secret = env().CRON_SECRET
  if (secret) {
    if (!sameSecret(request.headers.get('authorization') ?? '', `Bearer ${secret}`)) {
      throw unauthorized('This job runs only for the scheduler: send Authorization: Bearer $CRON_SECRET.')
    }
    return
  }
  if (isDeployed() || !isLoopback(ip)) {
    throw unauthorized('CRON_SECRET is not set, so cron jobs answer only callers on this machine.')
  }
}

// Digests first: timingSafeEqual needs equal lengths, and comparing digests leaks neither the secret's
// length nor how much of it a guess got right.
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(given), digest(expected))
}

/** The socket address of a local caller (IPv4, IPv6, or IPv4 mapped into IPv6). */
export function isLoopback(ip: string): boolean {
  return ip === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/i.test(ip)
}
