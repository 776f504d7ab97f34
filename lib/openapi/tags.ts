// The document's tags: a route's `tags` must be one of these (the document build refuses others), so
// every group in a reference page or generated client has a description.
export const TAGS: Readonly<Record<string, string>> = {
  auth: 'Registration, sign-in with optional TOTP MFA, tokens and sessions, the own profile, email links.',
  users: 'Staff administration of accounts: list, create, update, permissions, lifecycle, export, analytics.',
  products: 'The catalog: products and their variants, search and facets, bulk actions, analytics.',
  categories: 'The category tree products are filed under.',
  inventory: 'Stock levels of products and variants, and relative adjustments into the inventory ledger.',
  orders: 'Checkout and quotes, payment, fulfilment, shipping, refunds, returns, exports and analytics.',
  returns: 'Return requests (RMA): approve, reject, receive.',
  pricing: 'Shop settings for tax rates, shipping rates and discount codes.',
  health: 'Liveness and dependency checks for load balancers and monitors.',
  monitoring: 'Prometheus metrics, business KPIs and status-page data.',
  meta: 'This API description itself.',
  webhooks: 'Inbound events from the payment and shipping providers, verified by signature or secret.',
  cron: 'Scheduled jobs that Vercel calls with the CRON_SECRET.',
}
