import { createHash, randomBytes, randomUUID } from 'node:crypto'

// The one id and token generator.
export const newId = (): string => randomUUID()
// Request ids come 9 random bytes at a time from a pooled buffer: one randomBytes call per 512 requests
// instead of one (a system call) per request.
const ID_BYTES = 9
const POOL_BYTES = ID_BYTES * 512
let pool = Buffer.alloc(0)
let offset = 0
export const requestId = (): string => {
  if (offset + ID_BYTES > pool.length) {
    pool = randomBytes(POOL_BYTES)
    offset = 0
  }
  const id = pool.toString('base64url', offset, offset + ID_BYTES)
  offset += ID_BYTES
  return `req_${id}`
}
/** 256-bit random token for links and refresh tokens; store only its sha256. */
export const randomToken = (): string => randomBytes(32).toString('base64url')
export const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex')
