import { STYLE_HASH } from '../views/layout.js'

/**
 * Headers of every HTML page the sidecar renders, its own pages and its error pages alike: the
 * one inline stylesheet by hash and nothing else, no framing, no referrer, never cached.
 * `formTarget` is an extra origin forms may lead to (the IdP's, for Approve's redirect).
 */
export function pageHeaders (formTarget?: string): Record<string, string> {
  return {
    'content-security-policy': `default-src 'none'; style-src ${STYLE_HASH}; form-action 'self'${formTarget === undefined ? '' : ` ${formTarget}`}; frame-ancestors 'none'; base-uri 'none'`,
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'cache-control': 'no-store'
  }
}
