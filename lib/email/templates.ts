import { env } from '../platform/env.js'

// Transactional emails. Links always use APP_URL, never the request's Host header.

export type EmailTemplate =
  | 'verify_email'
  | 'reset_password'
  | 'account_locked'
  | 'email_changed'
  | 'password_changed'
  | 'mfa_enabled'
  | 'mfa_disabled'
  | 'mfa_reset'
  | 'invite'
  | 'low_stock'
  | 'order_confirmation'
  | 'order_refunded'
  | 'order_refund_failed'
  | 'order_shipped'

/** One line of a low-stock email (a product without variants, or one variant). */
export interface LowStockLine {
  sku: string
  /** Product name, with the variant's title for a variant. */
  name: string
  quantity: number
  threshold: number
}

/** One shipment of an order-shipped email. */
export interface ShipmentLine {
  carrier: string | null
  tracking_number: string | null
  tracking_url: string | null
}

export interface RenderedEmail {
  subject: string
  text: string
  html: string
}

const link = (path: string, token: string) =>
  `${env().APP_URL.replace(/\/$/, '')}${path}?token=${encodeURIComponent(token)}`

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

function make(subject: string, lines: string[], action?: { label: string; url: string }): RenderedEmail {
  const text = [...lines, ...(action ? ['', `${action.label}: ${action.url}`] : [])].join('\n')
  const html = [
    ...lines.map((l) => `<p>${escapeHtml(l)}</p>`),
    ...(action ? [`<p><a href="${escapeHtml(action.url)}">${escapeHtml(action.label)}</a></p>`] : []),
  ].join('\n')
  return { subject, text, html }
}

export function renderEmail(template: EmailTemplate, data: Record<string, unknown>): RenderedEmail {
  const name = typeof data.first_name === 'string' && data.first_name ? data.first_name : 'there'
  const token = String(data.token ?? '')
  switch (template) {
    case 'verify_email':
      return make('Confirm your email address', [`Hi ${name},`, 'Please confirm your email address.'], {
        label: 'Confirm email',
        url: link('/verify-email', token),
      })
    case 'reset_password':
      return make(
        'Reset your password',
        [`Hi ${name},`, 'Someone asked to reset your password. The link works once, for one hour.'],
        { label: 'Choose a new password', url: link('/reset-password', token) },
      )
    case 'invite':
      return make(
        'You have been invited',
        [`Hi ${name},`, 'An account was created for you. Set a password within 72 hours.'],
        {
          label: 'Set your password',
          url: link('/reset-password', token),
        },
      )
    case 'account_locked':
      return make(
        'Your account was locked',
        [`Hi ${name},`, 'Too many failed sign-in attempts locked your account for a while.'],
        { label: 'Unlock it now', url: link('/unlock', token) },
      )
    case 'email_changed':
      return make('Your email address was changed', [
        `Hi ${name},`,
        `The email address of your account was changed to ${String(data.new_email ?? '')}. If this was not you, contact us.`,
      ])
    case 'password_changed':
      return make('Your password was changed', [
        `Hi ${name},`,
        'Your password was changed. If this was not you, reset it now.',
      ])
    case 'mfa_enabled':
      return make('Two-step verification is on', [
        `Hi ${name},`,
        'Two-step verification was turned on for your account.',
      ])
    case 'mfa_disabled':
      return make('Two-step verification is off', [
        `Hi ${name},`,
        'Two-step verification was turned off for your account.',
      ])
    case 'low_stock': {
      const items = Array.isArray(data.items) ? (data.items as LowStockLine[]) : []
      const more = Number(data.more ?? 0)
      const count = items.length + more
      return make(count === 1 ? '1 item is low on stock' : `${count} items are low on stock`, [
        `Hi ${name},`,
        'These items are at or below their low-stock threshold:',
        ...items.map((i) => `${i.sku} – ${i.name}: ${i.quantity} left (threshold ${i.threshold})`),
        ...(more > 0 ? [`…and ${more} more.`] : []),
        'You will hear about an item again only after it has been restocked above its threshold.',
      ])
    }
    case 'order_confirmation':
      return make(`Your order #${String(data.order_number ?? '')}`, [
        `Hi ${name},`,
        `Thank you for your order #${String(data.order_number ?? '')} of ${String(data.total ?? '')} ${String(data.currency ?? '')}.`,
        `${Number(data.item_count ?? 0)} item(s). We will email you again when it ships.`,
      ])
    case 'order_refunded':
      return make(`Refund for order ${String(data.order_number ?? '')}`, [
        `Hi ${name},`,
        `We refunded ${String(data.amount ?? '')} ${String(data.currency ?? '')} for order ${String(data.order_number ?? '')}.`,
        'Depending on your bank it can take 5-10 days to show on your statement.',
      ])
    case 'order_refund_failed':
      return make(`About your refund for order ${String(data.order_number ?? '')}`, [
        `Hi ${name},`,
        `The refund of ${String(data.amount ?? '')} ${String(data.currency ?? '')} for order ${String(data.order_number ?? '')} ` +
          'we told you about did not go through: your bank or card issuer sent it back.',
        'Our team has been alerted and will contact you to return the money another way.',
      ])
    case 'order_shipped': {
      const shipments = Array.isArray(data.shipments) ? (data.shipments as ShipmentLine[]) : []
      return make(`Order ${String(data.order_number ?? '')} is on its way`, [
        `Hi ${name},`,
        `Your order ${String(data.order_number ?? '')} has shipped.`,
        ...shipments
          .map((s) =>
            [s.carrier, s.tracking_number ? `tracking number ${s.tracking_number}` : null, s.tracking_url]
              .filter(Boolean)
              .join(' – '),
          )
          .filter(Boolean),
      ])
    }
    case 'mfa_reset':
      return make('Two-step verification was reset', [
        `Hi ${name},`,
        'An administrator removed two-step verification and the backup codes from your account. ' +
          'You can sign in with your password and turn it on again in your account settings.',
        'If you did not ask for this, contact us at once.',
      ])
  }
}
