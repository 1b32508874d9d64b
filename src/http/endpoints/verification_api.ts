/**
 * The JSON verification API for an operator's own front end (ui.frontend_url): the same decisions
 * as the pages (endpoints/verification.ts), through the same steps (plumbing/verification_steps.ts):
 * one throttle per address for both, the same signed session cookie with its CSRF token, and
 * confirm before approve — a decision is taken only for the code this session looked up with
 * GET {verification_path}/api/request (kept in the cookie as the confirm page keeps it). Same
 * origin only: no CORS header is ever sent, so a browser lets no other origin read an answer or
 * send the JSON decision. Every answer is JSON with Cache-Control: no-store, errors as
 * `{ error, error_description }` with a stable code; the OpenAPI 3.1 document
 * (schemas/verification-api.openapi.json) is served at {verification_path}/api/openapi.json.
 * Pinned by test/verification_api.test.ts.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import openapi from '../../../schemas/verification-api.openapi.json' with { type: 'json' }
import { candidateUserCodes, formatUserCode } from '../../device/codes.js'
import { isPending, type DeviceGrant } from '../../device/grant.js'
import { errorLogFields, SidecarError } from '../../errors.js'
import type { Locale } from '../../ui/i18n.js'
import { sameNetwork } from '../plumbing/address.js'
import { methodNotAllowed } from '../plumbing/answer.js'
import { safeEqual } from '../plumbing/cookie.js'
import { NO_STORE_JSON, SIDECAR_ERROR_STATUS, type RouteDeps } from '../plumbing/deps.js'
import { rateLimitedBody } from '../plumbing/outcomes.js'
import { verificationSteps } from '../plumbing/verification_steps.js'

/** The API's stable error codes (the OpenAPI document's ErrorCode). */
export type ApiErrorCode = 'invalid_request' | 'invalid_user_code' | 'invalid_csrf_token' | 'confirmation_required' | 'slow_down' | 'temporarily_unavailable' | 'server_error'

/** An error the API answers with: its status, stable code and words for the front end's developer. */
export class ApiError extends Error {
  readonly statusCode: number
  readonly error: ApiErrorCode
  readonly headers: Readonly<Record<string, string>>
  constructor (statusCode: number, error: ApiErrorCode, description: string, headers: Readonly<Record<string, string>> = {}) {
    super(description)
    this.statusCode = statusCode
    this.error = error
    this.headers = headers
  }
}

const API_HEADERS: Readonly<Record<string, string>> = { ...NO_STORE_JSON, 'x-content-type-options': 'nosniff' }
const WRONG_CODE = 'the code is wrong, expired or already used'
/** The one media type the decision takes (RFC 8259). */
const JSON_MEDIA_TYPE = 'application/json'
const DECISIONS = ['approve', 'deny'] as const

export async function verificationApiRoutes (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { config, store, clock, clients, cookie, pages } = deps
  const dfs = config.device_flow_settings
  const base = `${dfs.verification_path}/api`
  const steps = verificationSteps(deps)
  const document = JSON.stringify({ ...openapi, servers: [{ url: `${config.server.public_url}${base}`, description: 'this sidecar' }] })

  app.removeAllContentTypeParsers()
  app.addContentTypeParser(JSON_MEDIA_TYPE, { parseAs: 'buffer', bodyLimit: config.server.body_limit_bytes }, (_req, body, done) => { done(null, body) })
  app.setErrorHandler((err: FastifyError | SidecarError | ApiError, req, reply) => {
    const api = apiError(err, req)
    req.log.info({ status: api.statusCode, error: api.error }, 'verification api error')
    void send(reply.headers(api.headers), api.statusCode, { error: api.error, error_description: api.message })
  })

  app.get(`${base}/request`, {
    schema: { querystring: { type: 'object', required: ['user_code'], properties: { user_code: { type: 'string' }, ui_locales: { type: 'string' } } } }
  }, async (req, reply) => {
    const query = req.query as { user_code: string; ui_locales?: string }
    const entry = await steps.enterCode(req, query.user_code)
    if (entry.kind === 'throttled') throw tooMany(req, entry.attempt)
    if (entry.kind === 'unknown') {
      steps.codeWrong(req)
      if (entry.attempt?.exhausted === true) throw tooMany(req, entry.attempt)
      throw new ApiError(404, 'invalid_user_code', WRONG_CODE)
    }
    const grant = entry.grant
    steps.codeOk(req, grant)
    const session = cookie.parse(req.headers.cookie) ?? { csrf: randomBytes(32).toString('base64url') }
    const locale = pages.localeFor(req.headers, { uiLocales: query.ui_locales, chosen: session.locale })
    reply.header('set-cookie', cookie.serialize(steps.lookedUp(session, grant)))
    reply.header('content-language', locale.tag)
    return send(reply, 200, requestView(req, grant, locale, session.csrf))
  })

  app.post(`${base}/decision`, async (req, reply) => {
    const body = decisionBody(req.body)
    const session = cookie.parse(req.headers.cookie)
    if (session === undefined || !safeEqual(body.csrf_token, session.csrf)) {
      throw new ApiError(403, 'invalid_csrf_token', 'csrf_token is not the one GET /api/request gave this session (with its cookie)')
    }
    const candidates = candidateUserCodes(body.user_code, deps.codeFormats.list(clock.now()))
    // confirm before approve: only the code this session looked up, and nothing is looked up by
    // the code sent here (no second way to try codes)
    const confirm = session.confirm
    const grant = confirm === undefined ? undefined : await store.get(confirm.grant)
    if (confirm === undefined || candidates.length === 0 || (grant !== undefined && !candidates.some(code => safeEqual(code, grant.user_code)))) {
      throw new ApiError(403, 'confirmation_required', 'look the code up with GET /api/request in this session before deciding on it')
    }
    if (!isPending(grant, clock.now())) throw new ApiError(404, 'invalid_user_code', WRONG_CODE)
    const locale = pages.localeFor(req.headers, { chosen: session.locale })
    if (body.decision === 'approve') {
      const approval = await steps.approve(req, session, grant, locale, 'approved through the JSON API; sent to the IdP to sign in')
      if (approval === undefined) throw new ApiError(404, 'invalid_user_code', WRONG_CODE)
      reply.header('set-cookie', cookie.serialize(approval.session))
      return send(reply, 200, { redirect_to: approval.location })
    }
    const denial = await steps.deny(req, session, grant, 'denied through the JSON API')
    if (!denial.settled) throw new ApiError(404, 'invalid_user_code', WRONG_CODE)
    reply.header('set-cookie', cookie.serialize(denial.session))
    return send(reply, 200, { status: 'denied' })
  })

  app.get(`${base}/openapi.json`, async (_req, reply) => reply.code(200).headers(API_HEADERS).send(document))

  // no route answers a preflight (OPTIONS) or another method with anything but 405: never a CORS header
  app.route({ method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: `${base}/request`, handler: methodNotAllowed('GET') })
  app.route({ method: ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: `${base}/decision`, handler: methodNotAllowed('POST') })
  app.route({ method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: `${base}/openapi.json`, handler: methodNotAllowed('GET') })

  function requestView (req: FastifyRequest, grant: DeviceGrant, locale: Locale, csrf: string): Record<string, unknown> {
    const client = clients.get(grant.client_id)
    const logo = pages.assets.clientLogoUrl(grant.client_id)
    return {
      user_code: formatUserCode(grant.user_code),
      client: {
        client_id: grant.client_id,
        client_name: steps.clientName(grant),
        ...(logo === undefined ? {} : { logo_uri: `${config.server.public_url}${logo}` }),
        ...(client?.client_uri === undefined ? {} : { client_uri: client.client_uri }),
        ...(client?.policy_uri === undefined ? {} : { policy_uri: client.policy_uri }),
        ...(client?.tos_uri === undefined ? {} : { tos_uri: client.tos_uri })
      },
      scopes: grant.scopes.map(name => ({ name, description: pages.scopeWords(name, locale) })),
      requested_at: new Date(grant.created_at).toISOString(),
      expires_at: new Date(grant.expires_at).toISOString(),
      device: {
        ip: grant.device_ip,
        ...(grant.device_user_agent === undefined ? {} : { user_agent: grant.device_user_agent }),
        same_network: sameNetwork(grant.device_ip, req.ip)
      },
      csrf_token: csrf
    }
  }

  /** 429 with Retry-After: the address's allowance of code entries, shared with the pages, is used up. */
  function tooMany (req: FastifyRequest, attempt: Parameters<typeof steps.throttled>[1]): ApiError {
    const seconds = steps.throttled(req, attempt)
    return new ApiError(429, 'slow_down', rateLimitedBody(seconds).error_description, { 'retry-after': String(seconds) })
  }
}

/** The decision's JSON body, checked: an object with string user_code and csrf_token, and decision approve or deny. */
function decisionBody (raw: unknown): { user_code: string; decision: typeof DECISIONS[number]; csrf_token: string } {
  if (!Buffer.isBuffer(raw)) throw new ApiError(415, 'invalid_request', `the body must be ${JSON_MEDIA_TYPE}`)
  let value: unknown
  try {
    value = JSON.parse(raw.toString('utf8'))
  } catch {
    throw new ApiError(400, 'invalid_request', 'the body is not valid JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ApiError(400, 'invalid_request', 'the body must be a JSON object')
  const { user_code: userCode, decision, csrf_token: csrf } = value as Record<string, unknown>
  if (typeof userCode !== 'string') throw new ApiError(400, 'invalid_request', 'user_code must be a string')
  if (typeof csrf !== 'string') throw new ApiError(400, 'invalid_request', 'csrf_token must be a string')
  if (!DECISIONS.includes(decision as typeof DECISIONS[number])) throw new ApiError(400, 'invalid_request', 'decision must be "approve" or "deny"')
  return { user_code: userCode, decision: decision as typeof DECISIONS[number], csrf_token: csrf }
}

/** Any error as the API's answer: its own, fastify's (validation 400, media type 415, size 413), the store's and the IdP's (SIDECAR_ERROR_STATUS), else 500. */
function apiError (err: FastifyError | SidecarError | ApiError, req: FastifyRequest): ApiError {
  if (err instanceof ApiError) return err
  if (err instanceof SidecarError) {
    req.log.warn(errorLogFields(err), 'dependency error')
    const { status, description } = SIDECAR_ERROR_STATUS[err.code]
    return new ApiError(status, status === 500 ? 'server_error' : 'temporarily_unavailable', description)
  }
  if (err.validation !== undefined) return new ApiError(400, 'invalid_request', `request ${err.validationContext ?? 'parameter'} ${err.validation[0]?.instancePath ?? ''} ${err.validation[0]?.message ?? 'is invalid'}`.replace(/\s+/g, ' ').trim())
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return new ApiError(415, 'invalid_request', `the body must be ${JSON_MEDIA_TYPE}`)
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return new ApiError(413, 'invalid_request', 'the request body is too large')
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return new ApiError(400, 'invalid_request', 'the request could not be understood')
  req.log.error({ err }, 'unexpected error')
  return new ApiError(500, 'server_error', 'an unexpected error occurred')
}

function send (reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).headers(API_HEADERS).send(JSON.stringify(body))
}
