/**
 * Headers of every HTML page the sidecar renders, its own pages and its error pages alike: its own
 * stylesheet and images and nothing else (no script at all), no framing, no referrer, never
 * cached. `formTarget` is an extra origin forms may lead to (the IdP's, for Approve's redirect).
 */
export function pageHeaders (formTarget?: string): Record<string, string> {
  return {
    'content-security-policy': `default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'${formTarget === undefined ? '' : ` ${formTarget}`}; frame-ancestors 'none'; base-uri 'none'`,
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'cache-control': 'no-store'
  }
}
