import { createHash } from 'node:crypto'

/** Markup that is already safe; only html`` and raw() make it. */
export class SafeHtml {
  readonly value: string
  constructor (value: string) { this.value = value }
  toString (): string { return this.value }
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Escapes text for element content and quoted attribute values. */
export function escapeHtml (value: string): string {
  return value.replace(/[&<>"']/g, ch => ESCAPES[ch]!)
}

type Interpolation = SafeHtml | string | number | undefined | null | false | readonly Interpolation[]

function render (value: Interpolation): string {
  if (value === undefined || value === null || value === false) return ''
  if (value instanceof SafeHtml) return value.value
  if (Array.isArray(value)) return value.map(v => render(v)).join('')
  return escapeHtml(String(value))
}

/** Tagged template that escapes every ${} unless it is SafeHtml (oidc-provider html_safe.js). */
export function html (strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0]!
  values.forEach((v, i) => { out += render(v) + strings[i + 1]! })
  return new SafeHtml(out)
}

/** Trusted constant markup (never user data). */
export function raw (markup: string): SafeHtml {
  return new SafeHtml(markup)
}

/** CSP source for an inline block: 'sha256-…'. */
export function cspHash (content: string): string {
  return `'sha256-${createHash('sha256').update(content).digest('base64')}'`
}
