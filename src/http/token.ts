import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { digest, grantId } from '../device/codes.js'
import type { PollResult } from '../device/grant.js'
import type { ClientConfig } from '../config/types.js'
import { SidecarError } from '../errors.js'
import { authenticateClient, readCredentials, type PresentedCredentials } from '../oauth/client_auth.js'
import { AccessDenied, AuthorizationPending, ExpiredToken, InvalidGrant, InvalidRequest, SlowDown, toBody, UnauthorizedClient, UnsupportedGrantType } from '../oauth/errors.js'
import { isForm, parseForm } from '../oauth/form.js'
import { DEVICE_CODE_GRANT } from '../oauth/types.js'
import { relayableHeaders, type UpstreamResponse } from '../upstream/client.js'
import { parseJson } from '../upstream/idp.js'
import { withoutSessionCookie } from './cookie.js'
import { NO_STORE, type RouteDeps } from './deps.js'
import { answer, sendAnswer, type JsonAnswer, type JsonRequest } from './answer.js'
import { bodyReadByFastPath } from './fast_path.js'
import { forwardedFor } from './forwarded.js'
import { outcomeOf } from './outcomes.js'
import { audit, userAgentOf } from '../ops/audit.js'
import { then, type Maybe } from '../maybe.js'
import type { TokenPollOutcome } from '../ops/metrics.js'
import { requestedScopes } from './scopes.js'

/**
 * The token endpoint, at the IdP's token_endpoint path. The device_code grant is answered here
 * (RFC 8628 §3.4–3.5); refresh_token for the sidecar's own clients is forwarded with the
 * sidecar's upstream credentials; every other request goes to the IdP untouched.
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
    return params.grant_type === DEVICE_CODE_GRANT ? devicePoll(req, params) : undefined
  })

  app.post(deps.tokenPath, { preParsing: bodyReadByFastPath }, (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
    const params = isForm(req.headers['content-type']) ? parseForm(req.headers['content-type'], body) : NOT_A_FORM
    if (params.grant_type === DEVICE_CODE_GRANT) return then(devicePoll(req, params), a => sendAnswer(reply, a))
    if (params === NOT_A_FORM) return passThrough(req, reply, body)
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
   * RFC 8628 §3.4–3.5: one device_code poll. Written out rather than with guard/then (maybe.ts):
   * the poll is the hottest path, and those allocate two closures per call.
   */
  function devicePoll (req: JsonRequest, params: Record<string, string>): Maybe<JsonAnswer> {
    let clientId: string
    let id: string
    let polled: Maybe<PollResult>
    try {
      const client = authenticateClient(readCredentials(req.headers.authorization, params), clients)
      if (!client.grant_types.includes(DEVICE_CODE_GRANT)) throw new UnauthorizedClient('the client may not use the device code grant')
      if (params.device_code === undefined) throw new InvalidRequest('device_code is required')
      clientId = client.client_id
      id = grantId(params.device_code)
      polled = store.poll(id, clientId, clock.now())
    } catch (err) {
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
    const bound = await store.refreshTokenClient(digest(params.refresh_token))
    if (bound !== client.client_id) throw new InvalidGrant('the refresh token is invalid or was not issued to this client', bound === undefined ? 'unknown refresh token' : 'bound to another client')
    const scope = params.scope === undefined ? undefined : requestedScopes(params.scope, client.scopes).join(' ')
    const as = idp.credentialsFor(client)
    const res = await idp.refresh(as, scope === undefined ? { refresh_token: params.refresh_token } : { refresh_token: params.refresh_token, scope })
    if (res.status === 401) throw new SidecarError('ERR_UPSTREAM_RESPONSE', 'the IdP refused the sidecar\'s own client credentials')
    const tokens = parseJson(res)
    if (res.status === 200 && typeof tokens?.refresh_token === 'string') {
      await store.bindRefreshToken(digest(tokens.refresh_token), client.client_id, refreshTtlMs(tokens, config.device_flow_settings.refresh_binding_ttl_seconds))
    }
    audit(req.log, 'token.refreshed', { client_id: client.client_id, status: res.status, device_ip: req.ip }, 'refresh forwarded')
    return relay(reply, res)
  }

  async function passThrough (req: FastifyRequest, reply: FastifyReply, body: Buffer): Promise<FastifyReply> {
    const headers = { ...req.headers, cookie: withoutSessionCookie(req.headers.cookie) }
    return relay(reply, await idp.forwardToken(body, headers, forwardedFor(req)))
  }
}

function deviceUserAgent (req: JsonRequest): { device_user_agent?: string } {
  const ua = userAgentOf(req)
  return ua === undefined ? {} : { device_user_agent: ua }
}

/** What parseForm would never return: the body is not a form (and is passed on untouched). */
const NOT_A_FORM: Record<string, string> = Object.freeze(Object.create(null) as Record<string, string>)

const POLL_OUTCOME: Record<PollResult['status'], TokenPollOutcome> = {
  pending: 'pending', slow_down: 'slow_down', approved: 'approved', denied: 'denied', expired: 'expired', redeemed: 'invalid_grant', unknown: 'invalid_grant'
}

/** How long to remember a refresh token's client: the IdP's refresh_expires_in when it gives one. */
export function refreshTtlMs (tokens: Record<string, unknown>, fallbackSeconds: number): number {
  const given = tokens.refresh_expires_in
  return (typeof given === 'number' && given > 0 ? given : fallbackSeconds) * 1000
}

function lenientCredentials (authorization: string | undefined, params: Record<string, string>): PresentedCredentials | undefined {
  try {
    return readCredentials(authorization, params)
  } catch {
    return undefined
  }
}

function relay (reply: FastifyReply, res: UpstreamResponse): FastifyReply {
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
