// A thin typed client for this API: openapi-fetch over the types openapi-typescript generates from the
// OpenAPI document (clients/typescript/README.md). Every path, parameter, body and answer is typed; the
// only addition is the bearer token, asked for on every request so a refreshed token is used at once.
import createFetchClient, { type Client, type ClientOptions } from 'openapi-fetch'
import type { paths } from './schema.js'

export type { components, operations, paths } from './schema.js'

export interface CommerceClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** The deployment's origin, e.g. `https://shop.example.com` (paths start with `/api/v1`). */
  baseUrl: string
  /** The signed-in caller's access token, if any (from `POST /api/v1/auth/login` or `/refresh`). */
  accessToken?: () => string | null | undefined
}

export type CommerceClient = Client<paths>

export function createCommerceClient({ accessToken, ...options }: CommerceClientOptions): CommerceClient {
  const client = createFetchClient<paths>(options)
  if (accessToken) {
    client.use({
      onRequest({ request }) {
        const token = accessToken()
        if (token && !request.headers.has('authorization'))
          request.headers.set('authorization', `Bearer ${token}`)
        return request
      },
    })
  }
  return client
}
