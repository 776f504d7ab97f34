import { createHash, randomBytes, randomUUID } from 'node:crypto'

// The one id and token generator.
export const newId = (): string => randomUUID()
export const requestId = (): string => `req_${randomBytes(9).toString('base64url')}`
/** 256-bit random token for links and refresh tokens; store only its sha256. */
export const randomToken = (): string => randomBytes(32).toString('base64url')
export const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex')
