import { createHash, randomBytes } from 'node:crypto'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { digest, formatUserCode, normalizeUserCode } from '../device/codes.js'
import type { UpstreamCredentials, UpstreamPrompt } from '../config/types.js'
import { isPending, type DeviceGrant, type LoginTransaction } from '../device/grant.js'
import { newHandle, type Handle } from '../device/refresh_family.js'
import { errorLogFields, SidecarError } from '../errors.js'
import { OAuthError } from '../oauth/errors.js'
import type { TokenResponse } from '../oauth/types.js'
import { parseForm } from '../oauth/form.js'
import type { Seconds } from '../oauth/types.js'
import { signedInRecently, signInAge } from '../upstream/id_token.js'
import { promptsFor } from '../upstream/idp.js'
import { idpAnswerKind, idpErrorCode, idpErrorDescription, IdpRefusal } from '../upstream/idp_answers.js'
import { confirmPage, type SignInStep } from '../views/confirm.js'
import { enterCodePage } from '../views/enter_code.js'
import { errorPage } from '../views/error_page.js'
import { outcomePage } from '../views/outcome.js'
import { scopeInWords } from '../views/scope_words.js'
import { approverFields, audit, deviceFields } from '../ops/audit.js'
import { safeEqual, type PageSession } from './cookie.js'
import { SIDECAR_ERROR_STATUS, type RouteDeps } from './deps.js'
import type { AttemptAnswer } from './limits.js'
import { pageHeaders } from './page_headers.js'
import { tokensForDevice } from './scopes.js'
import { refreshTtlMs } from './token.js'

const WRONG_CODE = 'That code isn’t valid. Check the code on your device and try again; codes expire after a few minutes.'
const IDP_UNAVAILABLE = 'Your sign-in service could not be reached or gave an answer we could not use. Your device is still waiting: enter the code again in a minute.'
/** The attempt scope of user-code entry (Limiter.attempt). */
const USER_CODE_SCOPE = 'uc'

/** An error shown to a person as a page (oauth2-proxy pagewriter): words only, never detail. */
export class PageError extends Error {
  readonly statusCode: number
  readonly title: string
  readonly retry: boolean
  constructor (statusCode: number, title: string, message: string, retry = true) {
    super(message)
    this.statusCode = statusCode
    this.title = title
    this.retry = retry
  }
}

/**
 * The verification pages (RFC 8628 §3.3): enter the code, confirm on the sidecar's own page
 * (§5.4), approve (to the IdP: state + PKCE S256 + nonce) or deny, and the callback that settles
 * the grant.
 */
export async function verificationRoutes (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { config, store, idp, clock, clients, metrics, limiter, cookie } = deps
  const dfs = config.device_flow_settings
  const path = dfs.verification_path

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.server.body_limit_bytes }, (_req, body, done) => { done(null, body) })
  app.addHook('onSend', async (_req, reply, payload) => {
    const authorize = idp.discovery.current?.authorization_endpoint
    reply.headers(pageHeaders(authorize === undefined ? undefined : new URL(authorize).origin))
    return payload
  })
  app.setErrorHandler((err: FastifyError | OAuthError | SidecarError | PageError, req, reply) => {
    let page: PageError
    if (err instanceof PageError) {
      page = err
    } else if (err instanceof SidecarError) {
      if (err.code.startsWith('ERR_UPSTREAM_') || err.code === 'ERR_ID_TOKEN_INVALID') metrics.verification('idp_error')
      req.log.warn(errorLogFields(err), 'dependency error')
      const { status } = SIDECAR_ERROR_STATUS[err.code]
      page = err.code === 'ERR_STORE_UNAVAILABLE'
        ? new PageError(status, 'Temporarily unavailable', 'We can’t look up device requests right now. Please try again in a minute.')
        : new PageError(status, 'Sign-in service unavailable', IDP_UNAVAILABLE)
    } else if (err instanceof OAuthError || (typeof (err as FastifyError).statusCode === 'number' && (err as FastifyError).statusCode! < 500)) {
      page = new PageError(400, 'Something went wrong', 'The form could not be read. Please start again.')
    } else {
      req.log.error({ err }, 'unexpected error')
      page = new PageError(500, 'Something went wrong', 'An unexpected error occurred. Please try again.')
    }
    // the page shows the request id as its reference: this line is what a person's quote finds
    // (with the error's code, when it has one: invalid_request, ERR_STORE_UNAVAILABLE, …)
    req.log.info({ status: page.statusCode, page: page.title, error: err instanceof OAuthError ? err.error : (err as { code?: unknown }).code }, 'error page')
    reply.code(page.statusCode).type('text/html; charset=utf-8')
      .send(errorPage({ title: page.title, message: page.message, requestId: req.id, ...(page.retry ? { retryHref: path } : {}) }))
  })

  app.get(path, {
    schema: { querystring: { type: 'object', properties: { user_code: { type: 'string' } } } }
  }, async (req, reply) => {
    const session = sessionFor(req)
    const prefill = (req.query as { user_code?: string }).user_code?.slice(0, 64)
    return page(reply.header('set-cookie', cookie.serialize(session)), 200, enterCodePage(prefill === undefined ? { action: path, csrf: session.csrf } : { action: path, csrf: session.csrf, userCode: prefill }))
  })

  app.post(path, async (req, reply) => {
    const params = parseForm(req.headers['content-type'], req.body)
    const session = cookie.parse(req.headers.cookie)
    if (session === undefined || params.csrf === undefined || !safeEqual(params.csrf, session.csrf)) {
      throw new PageError(403, 'This page has expired', 'For your safety, the form was not accepted. Please enter the code again.')
    }
    // every entry is counted before its lookup, per address and for everyone together (a bound
    // on distributed guessing that tightens each address once reached); a right code gives its
    // count back and resets nothing
    const attempt = await limiter.attempt(USER_CODE_SCOPE, req.ip, l => ({ perAddress: l.user_code_attempts, shared: l.user_code_attempts_global }))
    if (attempt?.allowed === false) throw tooMany(req, reply, attempt)

    const typed = params.user_code ?? ''
    const normalized = normalizeUserCode(typed, dfs.device_flow_usercode_charset, dfs.device_flow_usercode_length)
    const grant = normalized === undefined ? undefined : await store.findByUserCode(normalized, clock.now())
    if (grant === undefined) {
      metrics.verification('code_wrong')
      audit(req.log, 'verification.code_wrong', approverFields(req), 'wrong user code')
      if (attempt?.exhausted === true) throw tooMany(req, reply, attempt)
      return page(reply, 400, enterCodePage({ action: path, csrf: session.csrf, userCode: typed.slice(0, 64), error: WRONG_CODE }))
    }
    if (attempt !== undefined) await limiter.refund(USER_CODE_SCOPE, req.ip)
    const clientName = clients.get(grant.client_id)?.client_name ?? grant.client_id
    switch (params.action) {
      case 'approve': return approve(req, reply, session, grant)
      case 'deny': {
        await store.settle(grant.id, { status: 'denied', description: 'the user denied the authorization request' }, clock.now())
        metrics.verification('denied')
        audit(req.log, 'grant.denied', { ...deviceFields(grant), ...approverFields(req), by: 'person' }, 'denied on the confirm page')
        return page(reply, 200, outcomePage({ kind: 'denied', clientName }))
      }
      default:
        metrics.verification('code_ok')
        audit(req.log, 'verification.code_ok', { ...deviceFields(grant), ...approverFields(req) }, 'user code entered')
        return page(reply, 200, confirmPage(confirmView(grant, clientName, session.csrf)))
    }
  })

  app.get(`${path}/callback`, {
    schema: { querystring: { type: 'object', properties: { state: { type: 'string' }, code: { type: 'string' }, error: { type: 'string' }, error_description: { type: 'string' }, iss: { type: 'string' } } } }
  }, async (req, reply) => {
    const query = req.query as { state?: string; code?: string; error?: string; error_description?: string; iss?: string }
    const session = cookie.parse(req.headers.cookie)
    if (session?.grant === undefined || session.state === undefined || query.state === undefined || !safeEqual(query.state, session.state)) {
      throw new PageError(400, 'This sign-in can’t be used here', 'The sign-in did not start in this browser, or it was already used. Enter the code from your device again.')
    }
    const grant = await store.get(session.grant)
    const login = grant?.login
    if (!isPending(grant, clock.now()) || login === undefined || !safeEqual(login.state, query.state)) {
      throw new PageError(400, 'This request is no longer waiting', 'The device request expired, was already answered, or was started again elsewhere. Start again on your device if it is still waiting.')
    }
    const meta = idp.discovery.current
    // RFC 9207 §2.4: a response from another issuer (mix-up attack) is not ours to act on, nor one
    // without iss from an IdP that says it always sends it
    if (query.iss === undefined ? meta?.authorization_response_iss_parameter_supported === true : query.iss !== meta?.issuer) {
      audit(req.log, 'verification.issuer_mismatch', { ...deviceFields(grant), ...approverFields(req), iss: query.iss === undefined ? 'missing' : 'unexpected' }, 'the authorization response did not name the IdP\'s issuer')
      throw new PageError(400, 'Sign-in can’t be used', 'The sign-in answer came from an unexpected identity provider. Enter the code from your device again.')
    }
    const clientName = clients.get(grant.client_id)?.client_name ?? grant.client_id
    const cleared = cookie.serialize({ csrf: session.csrf })
    const as = idp.credentialsFor(clients.get(grant.client_id))
    if (query.error !== undefined) {
      const answer = { error: idpErrorCode(query.error), description: idpErrorDescription(query.error_description) }
      switch (idpAnswerKind(answer.error, answer.description)) {
        case 'misconfigured': {
          reply.header('set-cookie', cleared)
          return misconfigured(req, grant, login.state, as, 'authorization', answer)
        }
        case 'unavailable': {
          metrics.verification('idp_error')
          req.log.warn({ client_id: grant.client_id, grant_id: grant.id, idp_error: answer.error, ...(answer.description === undefined ? {} : { idp_error_description: answer.description }) }, 'the identity provider could not sign the person in just now; the grant keeps waiting')
          reply.header('set-cookie', cleared)
          throw new PageError(503, 'Sign-in service unavailable', IDP_UNAVAILABLE)
        }
        case 'refused': {
          await store.settle(grant.id, { status: 'denied', description: `the identity provider refused the sign-in: ${answer.error}` }, clock.now(), login.state)
          metrics.verification('idp_error')
          audit(req.log, 'grant.denied', { ...deviceFields(grant), ...approverFields(req), by: 'idp', idp_error: answer.error }, 'IdP returned an error')
          return page(reply.header('set-cookie', cleared), 200, outcomePage({ kind: 'denied', clientName }))
        }
      }
    }
    if (query.code === undefined) throw new PageError(400, 'Sign-in incomplete', 'Your sign-in service did not return a result. Enter the code from your device again.')

    let tokens: TokenResponse
    try {
      tokens = await idp.exchangeCode(as, query.code, login.code_verifier)
    } catch (err) {
      if (err instanceof IdpRefusal && err.kind === 'misconfigured') {
        reply.header('set-cookie', cleared)
        return misconfigured(req, grant, login.state, as, 'code_exchange', err)
      }
      throw err
    }
    // the upstream leg always asks for openid (upstreamScopes): every approval is validated by its ID token
    if (typeof tokens.id_token !== 'string') throw new SidecarError('ERR_ID_TOKEN_INVALID', 'no ID token in the IdP response')
    const claims = await idp.verifyIdToken(as, tokens.id_token, login.nonce)
    const subject = claims.sub
    if (login.max_age !== undefined) {
      const age = signInAge(claims, login.started_at)
      if (!signedInRecently(age, login.max_age)) {
        audit(req.log, 'verification.sign_in_too_old', { ...deviceFields(grant), ...(subject === undefined ? {} : { sub: subject }), ...approverFields(req), max_age: login.max_age, ...(age === undefined ? {} : { auth_age: age }) }, age === undefined ? 'the ID token does not say when the person signed in; not approved' : 'the sign-in is older than max_age; not approved')
        reply.header('set-cookie', cleared)
        throw new PageError(403, 'Sign in again', 'Your sign-in was longer ago than this service allows, and the sign-in page did not ask you again. Your device is still waiting: enter its code again and sign in when asked. If this keeps happening, sign out of your account first.')
      }
    }
    const family = await startFamily(grant, tokens, subject)
    const parked = tokensForDevice(family === undefined ? tokens : { ...tokens, refresh_token: family.value }, grant.scopes)
    const settled = await store.settle(grant.id, subject === undefined ? { status: 'approved', tokens: parked } : { status: 'approved', tokens: parked, subject }, clock.now(), login.state)
    if (!settled) {
      if (family !== undefined) await store.endFamily(family.family)
      throw new PageError(409, 'This request is no longer waiting', 'The device request was answered or expired while you were signing in.')
    }
    if (family === undefined && typeof tokens.refresh_token === 'string') {
      await store.bindRefreshToken(digest(tokens.refresh_token), { client_id: grant.client_id, scopes: grant.scopes }, refreshTtlMs(tokens, dfs.refresh_binding_ttl_seconds))
    }
    metrics.verification('approved')
    audit(req.log, 'grant.approved', { ...deviceFields(grant), ...(subject === undefined ? {} : { sub: subject }), ...approverFields(req) }, 'grant approved')
    return page(reply.header('set-cookie', cleared), 200, outcomePage({ kind: 'approved', clientName }))
  })

  /**
   * A public client never gets the IdP's refresh token (RFC 9700 §4.14.2): it gets the first
   * handle of a new refresh family holding that token (refresh_family.ts).
   */
  async function startFamily (grant: DeviceGrant, tokens: TokenResponse, subject: string | undefined): Promise<Handle | undefined> {
    if (typeof tokens.refresh_token !== 'string' || clients.get(grant.client_id)?.token_endpoint_auth_method !== 'none') return undefined
    const handle = newHandle()
    const family = { client_id: grant.client_id, upstream_token: tokens.refresh_token, scopes: grant.scopes, ...(subject === undefined ? {} : { subject }) }
    await store.createFamily(handle.family, handle.digest, family, refreshTtlMs(tokens, dfs.refresh_binding_ttl_seconds))
    return handle
  }

  /**
   * The IdP could not handle the sidecar's request as it is set up (idp_answers.ts): the operator is
   * told at error with the IdP's own words, the device is told by its access_denied, the person by
   * a page with a reference to quote. Trying again would end the same way, so the grant is denied.
   */
  async function misconfigured (req: FastifyRequest, grant: DeviceGrant, state: string, as: UpstreamCredentials, step: 'authorization' | 'code_exchange', answer: { error: string; description: string | undefined }): Promise<never> {
    await store.settle(grant.id, { status: 'denied', description: `the identity provider could not handle the sign-in request (${answer.error}); its set-up for this service needs fixing` }, clock.now(), state)
    metrics.verification('idp_misconfigured')
    req.log.error({ client_id: grant.client_id, grant_id: grant.id, upstream_client_id: as.client_id, step, idp_error: answer.error, ...(answer.description === undefined ? {} : { idp_error_description: answer.description }) }, 'the identity provider could not handle the sign-in request: check its set-up for this client (PKCE S256, redirect URI, grant and response types, scopes)')
    audit(req.log, 'grant.denied', { ...deviceFields(grant), ...approverFields(req), by: 'idp', idp_error: answer.error, reason: 'idp_misconfigured' }, 'the IdP could not handle the sign-in request')
    throw new PageError(502, 'The sign-in service could not handle this request', 'This is a problem in how the sign-in service is set up, not something you did. Your device has been told that it was not signed in. If this keeps happening, tell whoever runs this service and give them the reference below.', false)
  }

  function sessionFor (req: FastifyRequest): PageSession {
    return cookie.parse(req.headers.cookie) ?? { csrf: randomBytes(32).toString('base64url') }
  }

  /** The sign-in the IdP is asked for on this grant's approval: the client's own settings, else device_flow_settings. */
  function signInPolicy (grant: DeviceGrant): { prompt: UpstreamPrompt | false; maxAge: Seconds | undefined } {
    const client = clients.get(grant.client_id)
    return { prompt: client?.prompt ?? dfs.prompt, maxAge: client?.max_age_seconds ?? dfs.max_age_seconds }
  }

  async function approve (req: FastifyRequest, reply: FastifyReply, session: PageSession, grant: DeviceGrant): Promise<FastifyReply> {
    const { prompt, maxAge } = signInPolicy(grant)
    const now = clock.now()
    const login: LoginTransaction = { state: randomBytes(32).toString('base64url'), code_verifier: randomBytes(32).toString('base64url'), nonce: randomBytes(32).toString('base64url'), started_at: now, ...(maxAge === undefined ? {} : { max_age: maxAge }) }
    if (!await store.beginLogin(grant.id, login, now)) {
      throw new PageError(400, 'This request is no longer waiting', 'The device request expired or was already answered.')
    }
    const location = await idp.authorizationUrl({
      as: idp.credentialsFor(clients.get(grant.client_id)),
      state: login.state,
      nonce: login.nonce,
      code_challenge: createHash('sha256').update(login.code_verifier).digest('base64url'), // RFC 7636 §4.2 S256
      scopes: grant.scopes,
      prompt,
      ...(maxAge === undefined ? {} : { max_age: maxAge })
    })
    audit(req.log, 'verification.approved', { ...deviceFields(grant), ...approverFields(req) }, 'approved on the confirm page; sent to the IdP to sign in')
    return reply.header('set-cookie', cookie.serialize({ csrf: session.csrf, grant: grant.id, state: login.state })).redirect(location, 303)
  }

  function confirmView (grant: DeviceGrant, clientName: string, csrf: string) {
    const agoMinutes = Math.max(0, Math.floor((clock.now() - grant.created_at) / 60_000))
    return {
      action: path,
      csrf,
      userCode: formatUserCode(grant.user_code),
      clientName,
      scopes: grant.scopes.map(scopeInWords),
      requestedAt: new Date(grant.created_at).toISOString().replace('T', ' ').slice(0, 16) + ' UTC',
      requestedAgo: agoMinutes === 0 ? 'less than a minute ago' : agoMinutes === 1 ? '1 minute ago' : `${agoMinutes} minutes ago`,
      deviceIp: grant.device_ip,
      signIn: signInStep(grant)
    }
  }

  /** What Approve leads to at the IdP, for the page to say (and promise nothing the IdP will not do). */
  function signInStep (grant: DeviceGrant): SignInStep {
    const { prompt, maxAge } = signInPolicy(grant)
    const prompts = promptsFor(prompt, grant.scopes)
    const authorize = idp.discovery.current?.authorization_endpoint
    const at = authorize === undefined ? 'your sign-in service' : new URL(authorize).host
    if (prompts.includes('login') || maxAge === 0) return { kind: 'login', idp: at }
    if (prompts.includes('select_account')) return { kind: 'select_account', idp: at }
    if (maxAge !== undefined) return { kind: 'recent_login', idp: at, maxAgeSeconds: maxAge }
    return { kind: prompts.includes('consent') ? 'consent' : 'session', idp: at }
  }

  /** 429: wrong codes from this address reached its limit, or, past the global bound, its tightened allowance. */
  function tooMany (req: FastifyRequest, reply: FastifyReply, attempt: AttemptAnswer): PageError {
    const seconds = attempt.retryAfter
    metrics.verification('throttled')
    audit(req.log, 'verification.throttled', { ...approverFields(req), scope: attempt.tightened ? 'global' : 'address', retry_after: seconds }, 'too many wrong user codes')
    reply.header('retry-after', String(seconds))
    const minutes = `${Math.ceil(seconds / 60)} minute${seconds > 60 ? 's' : ''}`
    return new PageError(429, 'Too many attempts', attempt.tightened
      ? `Many wrong codes have been entered recently, so for now each network gets only a limited number of tries, and yours are used up. Try again in ${minutes}.`
      : `Too many wrong codes were entered from your network. Try again in ${minutes}.`, false)
  }
}

function page (reply: FastifyReply, status: number, markup: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(markup)
}

