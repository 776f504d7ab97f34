// Tests only: the `undici` that @vercel/blob imports, as Node's global fetch (what the SDK's own browser
// build does, its dist/undici-browser.js), looked up on every call. The npm undici package talks to the
// network through its own sockets, past MSW; Node's global fetch is the one MSW intercepts. The SDK builds
// the same requests either way (URL, method, headers, body); only the transport differs.
export const fetch: typeof globalThis.fetch = (input, init) => globalThis.fetch(input, init)
