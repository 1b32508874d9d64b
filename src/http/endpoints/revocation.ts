import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { digest } from '../../device/codes.js'
import { parseHandle } from '../../device/refresh_family.js'
import { SidecarError } from '../../errors.js'
import { authenticateClient } from '../../oauth/client_auth.js'
import { InvalidClient, InvalidGrant, InvalidRequest, UnsupportedTokenType } from '../../oauth/errors.js'
import { isForm, parseForm } from '../../oauth/form.js'
import type { UpstreamResponse } from '../../upstream/client.js'
import { audit } from '../../ops/audit.js'
import { withoutSessionCookie } from '../plumbing/cookie.js'
import { NO_STORE, type RouteDeps } from '../plumbing/deps.js'
import { forwardedFor } from '../plumbing/forwarded.js'
import { lenientCredentials, relay, revokeFamilyUpstream } from './token.js'

/** Where the sidecar answers revocation requests when the IdP publishes no revocation_endpoint. */
export const SIDECAR_REVOCATION_PATH = '/revoke'

/**
 * RFC 7009 token revocation, at the path of the IdP's revocation_endpoint (like the token endpoint)
 * or at SIDECAR_REVOCATION_PATH when the IdP has none. For the sidecar's clients (public ones by
 * client_id, confidential ones authenticated): a refresh handle ends its family and the IdP token
 * behind it is revoked; a confidential client's IdP refresh token is revoked at the IdP and its
 * binding dropped; any other token (an access token) is revoked at the IdP as the client's upstream
 * client. §2.2: unknown tokens get 200 as well. Other clients' requests go to the IdP untouched.
 */
export async function revocationRoutes (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { store, idp, clients } = deps

  app.post(deps.revocationPath, async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
    const params = isForm(req.headers['content-type']) ? parseForm(req.headers['content-type'], body) : undefined
    const creds = params === undefined ? undefined : lenientCredentials(req.headers.authorization, params)
    if (creds?.client_id === undefined || !clients.has(creds.client_id)) {
      if (idp.revocationEndpoint !== undefined) return passThrough(req, reply, body)
      if (params === undefined) throw new InvalidRequest('the request body must be application/x-www-form-urlencoded')
      throw creds?.client_id === undefined ? new InvalidRequest('client_id is required') : new InvalidClient('unknown client', creds.presented)
    }
    const client = authenticateClient(creds, clients)
    const token = params!.token
    if (token === undefined) throw new InvalidRequest('token is required')
    const hint = params!.token_type_hint // RFC 7009 §2.1: a hint only, and an unknown one is ignored
    if (client.token_endpoint_auth_method === 'none') {
      const handle = parseHandle(token)
      if (handle !== undefined) {
        const family = await store.endFamily(handle.family, client.client_id)
        if (family !== undefined) {
          const revoked = await revokeFamilyUpstream(idp, clients, family, req.log)
          audit(req.log, 'token.revoked', { client_id: client.client_id, ...(family.subject === undefined ? {} : { sub: family.subject }), token_type: 'refresh_token', upstream_revoked: revoked, device_ip: req.ip }, 'a refresh family revoked by its device')
        }
        return revoked(reply)
      }
    } else {
      const tokenDigest = digest(token)
      const bound = (await store.refreshTokenBinding(tokenDigest))?.client_id
      if (bound !== undefined && bound !== client.client_id) throw new InvalidGrant('the token was not issued to this client', 'bound to another client')
      if (bound !== undefined) {
        const upstream = idp.revocationEndpoint === undefined ? undefined : await idp.revoke(idp.credentialsFor(client), token, 'refresh_token')
        checkUpstream(upstream)
        await store.unbindRefreshToken(tokenDigest)
        audit(req.log, 'token.revoked', { client_id: client.client_id, token_type: 'refresh_token', upstream_revoked: upstream?.status === 200, device_ip: req.ip }, 'a refresh token revoked by its device')
        return revoked(reply)
      }
    }
    // a token the sidecar does not keep: an access token, or nothing it knows
    if (idp.revocationEndpoint === undefined) {
      if (hint === 'refresh_token') return revoked(reply) // §2.2: an unknown refresh token
      throw new UnsupportedTokenType('access tokens are revoked by the identity provider, which offers no revocation')
    }
    const res = await idp.revoke(idp.credentialsFor(client), token, hint === 'access_token' || hint === 'refresh_token' ? hint : undefined)
    checkUpstream(res)
    audit(req.log, 'token.revoked', { client_id: client.client_id, token_type: 'access_token', status: res.status, device_ip: req.ip }, 'a token revoked at the IdP for a device')
    return res.status === 200 ? revoked(reply) : relay(reply, res)
  })

  async function passThrough (req: FastifyRequest, reply: FastifyReply, body: Buffer): Promise<FastifyReply> {
    const headers = { ...req.headers, cookie: withoutSessionCookie(req.headers.cookie) }
    return relay(reply, await idp.forwardRevocation(body, headers, forwardedFor(req)))
  }
}

/** RFC 7009 §2.2: 200, whether or not there was anything to revoke. */
function revoked (reply: FastifyReply): FastifyReply {
  return reply.code(200).headers(NO_STORE).send()
}

/** An IdP that refused the sidecar's credentials or failed is the sidecar's problem, not the device's. */
function checkUpstream (res: UpstreamResponse | undefined): void {
  if (res === undefined) return
  if (res.status === 401) throw new SidecarError('ERR_UPSTREAM_RESPONSE', 'the IdP refused the sidecar\'s own client credentials at revocation')
  if (res.status >= 500) throw new SidecarError('ERR_UPSTREAM_RESPONSE', `the IdP answered HTTP ${res.status} to a revocation`)
}
