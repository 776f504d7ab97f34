// The API reference page (GET /api/docs): Scalar's standalone bundle, served as a static file that the
// build copies out of @scalar/api-reference (scripts/build-static.ts), reads GET /api/v1/openapi.json and
// renders it. Nothing is fetched from another origin: no web fonts (withDefaultFonts: false), no
// telemetry, no Scalar agent, no proxy; the page's Content-Security-Policy allows this origin only, so a
// future Scalar default that reaches out is blocked rather than shipped.

/** Where the static output holds Scalar's bundle (public/ at build time, served by the dev server too). */
export const SCALAR_BUNDLE_PATH = '/docs/scalar/standalone.js'
export const DOCUMENT_PATH = '/api/v1/openapi.json'

const configuration = {
  url: DOCUMENT_PATH,
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  hideClientButton: false,
  persistAuth: false,
  theme: 'default',
  showDeveloperTools: 'never',
  showToolbar: 'never',
}

export function referencePage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Commerce API reference</title>
<style nonce="${nonce}">body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}</style>
</head>
<body>
<div id="app"></div>
<script src="${SCALAR_BUNDLE_PATH}"></script>
<script nonce="${nonce}">Scalar.createApiReference('#app', ${JSON.stringify(configuration)})</script>
</body>
</html>
`
}

/** The page's policy: scripts from this origin or with the response's nonce; requests to this origin only. */
export function referencePagePolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'self' 'nonce-${nonce}'`,
    // Scalar (Vue) sets inline styles and injects <style> elements
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
}
