import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { digest, grantId } from '../../device/codes.js'
import { newHandle, parseHandle, type RefreshFamily } from '../../device/refresh_family.js'
import type { PollResult } from '../../device/grant.js'
import type { ClientConfig } from '../../config/types.js'
import { failureLogFields, SidecarError } from '../../errors.js'
import { authenticateClient, readCredentials, type PresentedCredentials } from '../../oauth/client_auth.js'
import { AccessDenied, AuthorizationPending, ExpiredToken, InvalidClient, InvalidGrant, InvalidRequest, SlowDown, toBody, UnauthorizedClient, UnsupportedGrantType } from '../../oauth/errors.js'
import { isForm, parseForm } from '../../oauth/form.js'
import { DEVICE_CODE_GRANT } from '../../oauth/types.js'
import { relayableHeaders, type UpstreamResponse } from '../../upstream/client.js'
import { parseJson, type Idp } from '../../upstream/idp.js'
import { withoutSessionCookie } from '../plumbing/cookie.js'
import { NO_STORE, NO_STORE_JSON, type RouteDeps } from '../plumbing/deps.js'
import { answer, sendAnswer, type JsonAnswer, type JsonRequest } from '../plumbing/answer.js'
import { bodyReadByFastPath } from '../plumbing/fast_path.js'
import { forwardedFor } from '../plumbing/forwarded.js'
import { outcomeOf } from '../plumbing/outcomes.js'
import { audit, userAgentOf } from '../../ops/audit.js'
import { then, type Maybe } from '../../maybe.js'
import type { TokenPollOutcome } from '../../ops/metrics.js'
import { refreshScopes, tokensForDevice } from '../plumbing/scopes.js'

/** How long a refresh may hold its claimed handle beyond its two IdP calls' time limits (discovery, token). */
const LEASE_MARGIN_MS = 1_000
/**
 * How long the handle a refresh used answers invalid_grant without ending its family: duplicates
 * of that same refresh (a device's parallel or retried request) that lost the race by moments.
 * Any later use of it ends the family (RFC 9700 §4.14.2).
 */
const REUSE_GRACE_MS = 2_000
const INVALID_REFRESH = 'the refresh token is invalid or was not issued to this client'

/**
 * The token endpoint, at the IdP's token_endpoint path. The device_code grant is answered here
 * (RFC 8628 §3.4–3.5); refresh_token for the sidecar's own clients is refreshed at the IdP with the
 * sidecar's upstream credentials: a confidential client's IdP refresh token as it is, a public
 * client's single-use handle rotated (RFC 9700 §4.14.2, refresh_family.ts), either held to the
 * scopes its grant had (RFC 6749 §6, kept with the refresh token); every other request
 * goes to the IdP untouched. A device_code poll of a client the sidecar does not serve is the
 * IdP's too when the IdP has a device flow of its own (idpDeviceClient), else the sidecar refuses
 * it (invalid_client). A body that is not a form is the IdP's, unless it is the sidecar's to refuse
 * (notAFormOfOurs): RFC 6749 §3.2 token requests are forms.
 */
export async function tokenRoutes (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { store, idp, clock, clients, config, metrics, fastPath } = deps

  // device_code polls are answered by the fast path (fast_path.ts) when it reads the request
  // itself, the usual case; it passes every other token request on to fastify, body included
  fastPath.post(deps.tokenPath, (req, body) => {
    const contentType = req.headers['content-type']
    if (!isForm(contentType)) return undefined
    let params: Record<string, string>
    try {
      params = parseForm(contentType, body)
    } catch {
      return undefined // fastify's route below gives the same error
    }
    return params.grant_type === DEVICE_CODE_GRANT ? devicePoll(req, params) : undefined // undefined: fastify's route takes it
  })

  app.post(deps.tokenPath, { preParsing: bodyReadByFastPath }, (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
    if (!isForm(req.headers['content-type'])) {
      const ours = notAFormOfOurs(req.headers.authorization, body, clients)
      if (ours === undefined) return passThrough(req, reply, body)
      if (ours === 'device_code') metrics.tokenPoll('invalid_request')
      throw new InvalidRequest('the request body must be application/x-www-form-urlencoded')
    }
    const params = parseForm(req.headers['content-type'], body)
    if (params.grant_type === DEVICE_CODE_GRANT) {
      const polled = devicePoll(req, params)
      return polled === undefined ? passThrough(req, reply, body) : then(polled, a => sendAnswer(reply, a))
    }
    // credentials the IdP may understand and we don't are its business: read them without throwing
    const creds = lenientCredentials(req.headers.authorization, params)
    if (creds?.client_id === undefined || !clients.has(creds.client_id)) return passThrough(req, reply, body)
    // the sidecar's own clients: answered here, never by the IdP
    const client = authenticateClient(creds, clients)
    if (params.grant_type === 'refresh_token') return refreshGrant(req, reply, params, client)
    if (params.grant_type === undefined) throw new InvalidRequest('grant_type is required')
    throw new UnsupportedGrantType('the sidecar\'s clients use the device code and refresh token grants')
  })

  /**
   * RFC 8628 §3.4–3.5: one device_code poll; undefined when it is the IdP's (idpDeviceClient).
   * Written out rather than with guard/then (maybe.ts): the poll is the hottest path, and those
   * allocate two closures per call.
   */
  function devicePoll (req: JsonRequest, params: Record<string, string>): Maybe<JsonAnswer> | undefined {
    let clientId: string
    let id: string
    let polled: Maybe<PollResult>
    let creds: PresentedCredentials | undefined
    try {
      creds = readCredentials(req.headers.authorization, params)
      const client = authenticateClient(creds, clients)
      if (!client.grant_types.includes(DEVICE_CODE_GRANT)) throw new UnauthorizedClient('the client may not use the device code grant')
      if (params.device_code === undefined) throw new InvalidRequest('device_code is required')
      clientId = client.client_id
      id = grantId(params.device_code)
      polled = store.poll(id, clientId, clock.now())
    } catch (err) {
      // an unknown client is looked for only here, so the sidecar's own clients' polls pay nothing for it
      if (err instanceof InvalidClient && creds !== undefined && idpDeviceClient(creds, clients, idp)) return undefined
      throw failedPoll(err)
    }
    if (!(polled instanceof Promise)) return pollAnswer(req, clientId, id, polled)
    return polled.then(result => pollAnswer(req, clientId, id, result), err => { throw failedPoll(err) })
  }

  function pollAnswer (req: JsonRequest, clientId: string, id: string, result: PollResult): JsonAnswer {
    metrics.tokenPoll(POLL_OUTCOME[result.status])
    if (result.status === 'expired') audit(req.log, 'grant.expired', { client_id: clientId, grant_id: id, device_ip: req.ip }, 'the device polled an expired code')
    if (result.status === 'approved') {
      audit(req.log, 'grant.redeemed', { client_id: clientId, grant_id: id, ...(result.subject === undefined ? {} : { sub: result.subject }), device_ip: req.ip, ...deviceUserAgent(req) }, 'tokens handed to the device')
      return answer(200, JSON.stringify(result.tokens))
    }
    // expected outcomes are values: answered from prebuilt answers, no Error built per poll
    return pollErrorAnswer(result)
  }

  /** A poll that failed (bad client, bad request, store down), counted by its outcome; returns the error to throw. */
  function failedPoll (err: unknown): unknown {
    const outcome = outcomeOf(err)
    metrics.tokenPoll(outcome === 'invalid_scope' ? 'invalid_request' : outcome)
    return err
  }

  async function refreshGrant (req: FastifyRequest, reply: FastifyReply, params: Record<string, string>, client: ClientConfig): Promise<FastifyReply> {
    if (!client.grant_types.includes('refresh_token')) throw new UnauthorizedClient('the client may not use the refresh token grant')
    if (params.refresh_token === undefined) throw new InvalidRequest('refresh_token is required')
    if (client.token_endpoint_auth_method === 'none') return rotateHandle(req, reply, params, client)
    const binding = await store.refreshTokenBinding(digest(params.refresh_token))
    if (binding?.client_id !== client.client_id) throw new InvalidGrant(INVALID_REFRESH, binding === undefined ? 'unknown refresh token' : 'bound to another client')
    const asked = refreshScopes(params.scope, binding.scopes ?? client.scopes)
    const as = idp.credentialsFor(client)
    const res = await idp.refresh(as, upstreamRefresh(params.refresh_token, params.scope, asked))
    if (res.status === 401) throw new SidecarError('ERR_UPSTREAM_RESPONSE', 'the IdP refused the sidecar\'s own client credentials')
    const tokens = parseJson(res)
    if (res.status === 200 && typeof tokens?.refresh_token === 'string') {
      // RFC 6749 §6: a new refresh token has the scope of the one it replaces
      await store.bindRefreshToken(digest(tokens.refresh_token), binding, refreshTtlMs(tokens, config.device_flow_settings.refresh_binding_ttl_seconds))
    }
    audit(req.log, 'token.refreshed', { client_id: client.client_id, status: res.status, device_ip: req.ip }, 'refresh forwarded')
    if (res.status !== 200 || tokens === undefined) return relay(reply, res)
    const forDevice = tokensForDevice(tokens, asked)
    return forDevice === tokens ? relay(reply, res) : reply.code(200).headers(relayableHeaders(res.headers)).headers(NO_STORE).send(JSON.stringify(forDevice))
  }

  /**
   * RFC 9700 §4.14.2: a public client's refresh. Its handle is claimed (one atomic store step),
   * the family's IdP token refreshed, and the next handle answered in its place. A used handle ends
   * the family; a refresh the IdP could not answer gives the handle back, so the device keeps its
   * login.
   */
  async function rotateHandle (req: FastifyRequest, reply: FastifyReply, params: Record<string, string>, client: ClientConfig): Promise<FastifyReply> {
    const handle = parseHandle(params.refresh_token!)
    if (handle === undefined) throw new InvalidGrant(INVALID_REFRESH, 'not a refresh handle')
    const lease = randomBytes(16).toString('base64url')
    const leaseMs = 2 * config.upstream.timeout_seconds * 1000 + LEASE_MARGIN_MS
    const claim = await store.claimHandle(handle.family, handle.digest, client.client_id, lease, clock.now(), leaseMs)
    if (claim.status === 'unknown') throw new InvalidGrant(INVALID_REFRESH, 'unknown refresh handle')
    if (claim.status === 'busy') throw new InvalidGrant(INVALID_REFRESH, 'the handle is held by a concurrent refresh')
    if (claim.status === 'reused') {
      const revoked = await revokeFamilyUpstream(idp, clients, claim.family, req.log)
      audit(req.log, 'token.refresh_reused', { client_id: client.client_id, ...subjectOf(claim.family), device_ip: req.ip, upstream_revoked: revoked }, 'a used refresh token was presented: its family is revoked')
      throw new InvalidGrant(INVALID_REFRESH, 'a used refresh handle: family revoked')
    }
    const family = claim.family
    let asked: readonly string[]
    let res: UpstreamResponse
    try {
      asked = refreshScopes(params.scope, family.scopes ?? client.scopes)
      res = await idp.refresh(idp.credentialsFor(client), upstreamRefresh(family.upstream_token, params.scope, asked))
    } catch (err) {
      await store.releaseHandle(handle.family, lease).catch(() => {}) // else its lease runs out
      throw err
    }
    const tokens = parseJson(res)
    if (res.status !== 200 || typeof tokens?.access_token !== 'string') {
      // the IdP no longer takes the family's token: the family is over; anything else keeps it
      if (tokens?.error === 'invalid_grant') await store.endFamily(handle.family)
      else await store.releaseHandle(handle.family, lease)
      if (res.status === 401) throw new SidecarError('ERR_UPSTREAM_RESPONSE', 'the IdP refused the sidecar\'s own client credentials')
      audit(req.log, 'token.refreshed', { client_id: client.client_id, status: res.status, device_ip: req.ip }, 'refresh refused by the IdP')
      return relay(reply, res)
    }
    const next = newHandle(handle)
    const upstream = typeof tokens.refresh_token === 'string' ? tokens.refresh_token : family.upstream_token
    if (!await store.rotateFamily(handle.family, lease, next.digest, upstream, refreshTtlMs(tokens, config.device_flow_settings.refresh_binding_ttl_seconds), clock.now() + REUSE_GRACE_MS)) {
      // the family ended while the IdP answered (a used handle was presented meanwhile)
      if (upstream !== family.upstream_token) await revokeFamilyUpstream(idp, clients, { ...family, upstream_token: upstream }, req.log)
      throw new InvalidGrant(INVALID_REFRESH, 'the family ended during the refresh')
    }
    audit(req.log, 'token.refreshed', { client_id: client.client_id, status: 200, device_ip: req.ip }, 'refreshed; the next refresh token handed out')
    return reply.code(200).headers(NO_STORE_JSON).send(JSON.stringify(tokensForDevice({ ...tokens, refresh_token: next.value }, asked)))
  }

  async function passThrough (req: FastifyRequest, reply: FastifyReply, body: Buffer): Promise<FastifyReply> {
    const headers = { ...req.headers, cookie: withoutSessionCookie(req.headers.cookie) }
    return relay(reply, await idp.forwardToken(body, headers, forwardedFor(req)))
  }
}

/**
 * Revokes a refresh family's IdP token at the IdP's revocation_endpoint (RFC 7009), as the client
 * it was issued to; resolves whether the IdP took it (false when it has no such endpoint or
 * failed: the family is gone from the store either way).
 */
export async function revokeFamilyUpstream (idp: Idp, clients: ReadonlyMap<string, ClientConfig>, family: RefreshFamily, log: FastifyBaseLogger): Promise<boolean> {
  if (idp.revocationEndpoint === undefined) return false
  try {
    return (await idp.revoke(idp.credentialsFor(clients.get(family.client_id)), family.upstream_token, 'refresh_token')).status === 200
  } catch (err) {
    log.warn(failureLogFields(err), 'the IdP did not revoke a refresh family\'s token')
    return false
  }
}

function subjectOf (family: RefreshFamily): { sub?: string } {
  return family.subject === undefined ? {} : { sub: family.subject }
}

function deviceUserAgent (req: JsonRequest): { device_user_agent?: string } {
  const ua = userAgentOf(req)
  return ua === undefined ? {} : { device_user_agent: ua }
}

/**
 * Whether a device request's client is the IdP's own: it names a client (well-formed credentials,
 * read by readCredentials) that the sidecar does not serve, and the IdP has a device flow of its
 * own (its discovery document publishes a device_authorization_endpoint). Such requests go to the
 * IdP untouched. Without an IdP device flow, or naming no client, the request stays the sidecar's.
 */
export function idpDeviceClient (creds: PresentedCredentials, clients: ReadonlyMap<string, ClientConfig>, idp: Idp): boolean {
  return creds.client_id !== undefined && !clients.has(creds.client_id) && idp.deviceAuthorizationEndpoint !== undefined
}

/** The device_code grant type as a non-form body may spell it: as it is, or percent-encoded (form-like text). */
const DEVICE_GRANT_SPELLINGS = [DEVICE_CODE_GRANT, encodeURIComponent(DEVICE_CODE_GRANT)].map(g => g.toLowerCase())
const JSON_OBJECT = /^\s*\{/

/**
 * Whether a token request whose body is not a form is still the sidecar's to refuse (with
 * invalid_request, RFC 6749 §3.2: token requests are forms), rather than the IdP's business;
 * `device_code` when it is a device_code poll, `client` when it is another request of a sidecar
 * client, undefined when it is the IdP's:
 * - its Authorization: Basic header names one of the sidecar's clients;
 * - the body mentions the device_code grant (a JSON or text/plain poll): the sidecar answers the
 *   device_code grant at this path, and a non-form one must not reach the IdP as if it were its own;
 * - the body, read as a form (text/plain and the like) or as a JSON object, names one of the
 *   sidecar's clients as client_id.
 * Any other non-form body (an IdP client's, or no client's) goes to the IdP untouched. Bounded by
 * the body limit; never on the poll path (polls are forms).
 */
export function notAFormOfOurs (authorization: string | undefined, body: Buffer, clients: ReadonlyMap<string, ClientConfig>): 'device_code' | 'client' | undefined {
  const text = body.toString('utf8')
  const lower = text.toLowerCase()
  if (DEVICE_GRANT_SPELLINGS.some(g => lower.includes(g))) return 'device_code'
  const basic = lenientCredentials(authorization, {})
  if (basic?.client_id !== undefined && clients.has(basic.client_id)) return 'client'
  const clientId = JSON_OBJECT.test(text) ? jsonClientId(text) : formClientId(text)
  return clientId !== undefined && clients.has(clientId) ? 'client' : undefined
}

function jsonClientId (text: string): string | undefined {
  try {
    const value: unknown = JSON.parse(text)
    const id = value !== null && typeof value === 'object' ? (value as Record<string, unknown>).client_id : undefined
    return typeof id === 'string' ? id : undefined
  } catch {
    return undefined
  }
}

function formClientId (text: string): string | undefined {
  try {
    return parseForm('application/x-www-form-urlencoded', text.trim()).client_id
  } catch {
    return undefined
  }
}

const POLL_OUTCOME: Record<PollResult['status'], TokenPollOutcome> = {
  pending: 'pending', slow_down: 'slow_down', approved: 'approved', denied: 'denied', expired: 'expired', redeemed: 'invalid_grant', unknown: 'invalid_grant'
}

/**
 * The IdP's refresh request: `scope` only when the device sent one (RFC 6749 §6: without it the
 * IdP's grant stands, openid included; the device's answer is cut to `asked` by tokensForDevice).
 */
function upstreamRefresh (refreshToken: string, scope: string | undefined, asked: readonly string[]): { refresh_token: string; scope?: string } {
  return scope === undefined || asked.length === 0 ? { refresh_token: refreshToken } : { refresh_token: refreshToken, scope: asked.join(' ') }
}

/** How long to remember a refresh token's client: the IdP's refresh_expires_in when it gives one. */
export function refreshTtlMs (tokens: Record<string, unknown>, fallbackSeconds: number): number {
  const given = tokens.refresh_expires_in
  return (typeof given === 'number' && given > 0 ? given : fallbackSeconds) * 1000
}

/** The credentials a request presents, or undefined when they cannot be read (the IdP's business, then). */
export function lenientCredentials (authorization: string | undefined, params: Record<string, string>): PresentedCredentials | undefined {
  try {
    return readCredentials(authorization, params)
  } catch {
    return undefined
  }
}

/** The IdP's answer as it came, minus hop-by-hop headers, never cached. */
export function relay (reply: FastifyReply, res: UpstreamResponse): FastifyReply {
  return reply.code(res.status).headers(relayableHeaders(res.headers)).headers(NO_STORE).send(res.body)
}

const PENDING = answer(400, JSON.stringify(toBody(new AuthorizationPending())))
const EXPIRED = answer(400, JSON.stringify(toBody(new ExpiredToken())))
const REDEEMED = answer(400, JSON.stringify(toBody(new InvalidGrant('the device code has already been used'))))
const UNKNOWN = answer(400, JSON.stringify(toBody(new InvalidGrant('the device code is invalid or was not issued to this client'))))
const DENIED = answer(400, JSON.stringify(toBody(new AccessDenied())))
const SLOW_DOWN_PARTS = JSON.stringify(toBody(new SlowDown(0))).split(/\b0\b/)
const SLOW_DOWN_ANSWERS = new Map<number, JsonAnswer>() // by interval (10, 15, 20…), built once each up to an hour
function slowDownAnswer (interval: number): JsonAnswer {
  let a = SLOW_DOWN_ANSWERS.get(interval)
  if (a === undefined) {
    a = answer(400, SLOW_DOWN_PARTS.join(String(interval)))
    if (interval <= 3600) SLOW_DOWN_ANSWERS.set(interval, a)
  }
  return a
}

/** The RFC 8628 §3.5 error answer for a poll that yields no tokens. */
function pollErrorAnswer (result: Exclude<PollResult, { status: 'approved' }>): JsonAnswer {
  switch (result.status) {
    case 'pending': return PENDING
    case 'slow_down': return slowDownAnswer(result.interval)
    case 'denied': return result.description === undefined ? DENIED : answer(400, JSON.stringify(toBody(new AccessDenied(result.description))))
    case 'expired': return EXPIRED
    case 'redeemed': return REDEEMED
    case 'unknown': return UNKNOWN
  }
}
