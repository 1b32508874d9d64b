/** Wire shapes shared by every layer; field names are the RFCs' own. */
export type Seconds = number
export type EpochMs = number

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code' // RFC 8628 §3.4

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'authorization_pending'
  | 'slow_down'
  | 'access_denied'
  | 'expired_token'
  | 'unsupported_token_type'
  | 'server_error'
  | 'temporarily_unavailable'

/** RFC 6749 §5.1, as the IdP sent it; unknown members are kept and passed on. */
export interface TokenResponse {
  access_token: string
  token_type: string
  expires_in?: Seconds
  refresh_token?: string
  id_token?: string
  scope?: string
  [extra: string]: unknown
}

/** RFC 6749 §5.2 */
export interface OAuthErrorBody {
  error: OAuthErrorCode
  error_description?: string
}
