import { SidecarError } from '../../errors.js'
import { OAuthError } from '../../oauth/errors.js'

/** The metrics outcome of an error a JSON endpoint threw: its OAuth error code, or unavailable. */
export type ErrorOutcome = 'invalid_request' | 'invalid_client' | 'invalid_scope' | 'unauthorized_client' | 'unavailable'

export function outcomeOf (err: unknown): ErrorOutcome {
  if (err instanceof OAuthError) {
    switch (err.error) {
      case 'invalid_client': case 'invalid_scope': case 'unauthorized_client': return err.error
      case 'temporarily_unavailable': case 'server_error': return 'unavailable'
      default: return 'invalid_request'
    }
  }
  if (err instanceof SidecarError) return 'unavailable'
  return 'invalid_request'
}

/** The JSON body of a 429 from the API (the error code of RFC 8628's "slow down"). */
export function rateLimitedBody (seconds: number): { error: 'slow_down'; error_description: string } {
  return { error: 'slow_down', error_description: `too many requests; retry after ${seconds} seconds` }
}
