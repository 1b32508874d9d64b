/**
 * What a device is told to show for its code (RFC 8628 §3.2): `verification_uri`, where a person
 * types the code, and `verification_uri_complete`, the same address with the code in it (for a QR
 * code or a link). One rule for every place that hands them out — the device authorization
 * response and the QR endpoint — so a QR code always encodes exactly what the device was sent.
 * Pinned by test/qr.test.ts.
 */
import type { Config } from '../../config/types.js'

/** The query parameter that carries the code (RFC 8628 §3.3.1's example; the verification page reads it). */
export const USER_CODE_PARAM = 'user_code'

/** The verification URIs of a deployment, from config only. */
export interface VerificationUris {
  /**
   * RFC 8628 §3.2 `verification_uri`: device_flow_settings.verification_uri (what the operator
   * publishes), else ui.frontend_url (the operator's own front end), else {public_url}{verification_path}.
   */
  readonly verification_uri: string
  /**
   * `verification_uri_complete` up to the code: the URI with `?user_code=` (`&user_code=` when it
   * already has a query). A code in its display form (device/codes.ts formatUserCode, [A-Z0-9-])
   * is appended as it is: it needs no escaping.
   */
  readonly complete_prefix: string
}

export function verificationUris (config: Config): VerificationUris {
  const dfs = config.device_flow_settings
  const uri = dfs.verification_uri ?? config.ui.frontend_url ?? `${config.server.public_url}${dfs.verification_path}`
  return { verification_uri: uri, complete_prefix: `${uri}${uri.includes('?') ? '&' : '?'}${USER_CODE_PARAM}=` }
}

/** `verification_uri_complete` for a code in its display form. */
export function verificationUriComplete (uris: VerificationUris, displayCode: string): string {
  return uris.complete_prefix + displayCode
}
