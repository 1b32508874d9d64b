import { createHash, timingSafeEqual } from 'node:crypto'
import type { ClientAuthMethod, ClientConfig } from '../config/types.js'
import { InvalidClient, InvalidRequest } from './errors.js'

/** What a request carried to identify its client (RFC 6749 §2.3.1). */
export interface PresentedCredentials {
  client_id: string | undefined
  client_secret: string | undefined
  method: ClientAuthMethod
  /** True when an Authorization header or a client_secret was sent. */
  presented: boolean
}

/**
 * Reads the client's identity from an Authorization: Basic header or the form body. Both at once,
 * or two differing client_ids, are invalid_request (RFC 6749 §2.3: one method per request).
 */
export function readCredentials (authorization: string | undefined, params: Record<string, string>): PresentedCredentials {
  if (authorization !== undefined) {
    const [scheme, token] = authorization.trim().split(/\s+/, 2)
    if (scheme?.toLowerCase() !== 'basic' || token === undefined) {
      throw new InvalidClient('unsupported Authorization scheme', true)
    }
    const decoded = Buffer.from(token, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon === -1) throw new InvalidClient('malformed Basic credentials', true)
    let id: string, secret: string
    try {
      // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding
      id = decodeURIComponent(decoded.slice(0, colon).replaceAll('+', ' '))
      secret = decodeURIComponent(decoded.slice(colon + 1).replaceAll('+', ' '))
    } catch {
      throw new InvalidClient('malformed percent-encoding in Basic credentials', true)
    }
    if (params.client_secret !== undefined) throw new InvalidRequest('use only one client authentication method')
    if (params.client_id !== undefined && params.client_id !== id) throw new InvalidRequest('client_id in the body does not match the Authorization header')
    return { client_id: id, client_secret: secret, method: 'client_secret_basic', presented: true }
  }
  if (params.client_secret !== undefined) {
    return { client_id: params.client_id, client_secret: params.client_secret, method: 'client_secret_post', presented: true }
  }
  return { client_id: params.client_id, client_secret: undefined, method: 'none', presented: false }
}

/**
 * Authenticates presented credentials against the registry. Unknown, disabled, wrong secret, or a
 * method other than the registered one: InvalidClient, always with the same public words.
 * `requireAuth` refuses public clients (enforce_clientauth_device_authorize).
 */
export function authenticateClient (
  creds: PresentedCredentials,
  clients: ReadonlyMap<string, ClientConfig>,
  requireAuth = false
): ClientConfig {
  if (creds.client_id === undefined) {
    if (creds.presented) throw new InvalidClient('no client_id', true)
    throw new InvalidRequest('client_id is required')
  }
  const client = clients.get(creds.client_id)
  if (client === undefined) throw new InvalidClient('unknown client', creds.presented)
  if (!client.enabled) throw new InvalidClient('client is disabled', creds.presented)
  if (client.token_endpoint_auth_method !== creds.method) {
    throw new InvalidClient(`client is registered for ${client.token_endpoint_auth_method}, used ${creds.method}`, creds.presented)
  }
  if (requireAuth && client.token_endpoint_auth_method === 'none') {
    throw new InvalidClient('client authentication is enforced and the client is public', creds.presented)
  }
  if (client.token_endpoint_auth_method !== 'none' && !secretsEqual(creds.client_secret ?? '', client.client_secret ?? '')) {
    throw new InvalidClient('wrong client secret', creds.presented)
  }
  return client
}

/** Constant-time comparison of two secrets of any length (client secrets, the admin token); never equal to an empty secret. */
export function secretsEqual (a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest()
  const hb = createHash('sha256').update(b).digest()
  return timingSafeEqual(ha, hb) && b.length > 0
}
