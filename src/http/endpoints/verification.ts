import { randomBytes } from 'node:crypto'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { digest, formatUserCode, normalizeUserCode, type UserCodeFormat } from '../../device/codes.js'
import type { UpstreamCredentials } from '../../config/types.js'
import { isPending, type DeviceGrant } from '../../device/grant.js'
import { newHandle, type Handle } from '../../device/refresh_family.js'
import { errorLogFields, SidecarError } from '../../errors.js'
import { OAuthError } from '../../oauth/errors.js'
import type { TokenResponse } from '../../oauth/types.js'
import { parseForm } from '../../oauth/form.js'
import { signedInRecently, signInAge } from '../../upstream/id_token.js'
import { promptsFor } from '../../upstream/idp.js'
import { idpAnswerKind, idpErrorCode, idpErrorDescription, IdpRefusal } from '../../upstream/idp_answers.js'
import type { Locale } from '../../ui/i18n.js'
import type { ErrorText, Here } from '../../ui/pages.js'
import { approverFields, audit, deviceFields } from '../../ops/audit.js'
import { sameNetwork } from '../plumbing/address.js'
import { safeEqual, type PageSession } from '../plumbing/cookie.js'
import { SIDECAR_ERROR_STATUS, type RouteDeps } from '../plumbing/deps.js'
import type { AttemptAnswer } from '../plumbing/limits.js'
import { pageHeaders } from '../plumbing/page_headers.js'
import { tokensForDevice } from '../plumbing/scopes.js'
import { carried, verificationSteps } from '../plumbing/verification_steps.js'
import { refreshTtlMs } from './token.js'

/** The most of a typed code kept to show again (a code is far shorter). */
const TYPED_MAX = 64

/**
 * An error shown to a person as a page (oauth2-proxy pagewriter): words only, never detail; the
 * words are the catalogue's `error.<key>.title` and `.body` (ui/pages.ts ErrorText).
 */
export class PageError extends Error {
  readonly statusCode: number
  readonly text: ErrorText
  readonly retry: boolean
  constructor (statusCode: number, text: ErrorText, retry = true) {
    super(text.key)
    this.statusCode = statusCode
    this.text = text
    this.retry = retry
  }
}

/**
 * The verification pages (RFC 8628 §3.3): enter the code, confirm on the sidecar's own page
 * (§5.4), approve (to the IdP: state + PKCE S256 + nonce) or deny, and the callback that settles
 * the grant. Every POST answers with a 303 to a page that a GET shows (the enter page with its
 * error, the confirm page, the result page), so Back and reload never send a form again; what
 * those pages show travels in the signed page cookie.
 */
export async function verificationRoutes (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { config, store, idp, clock, clients, metrics, cookie, pages } = deps
  const steps = verificationSteps(deps)
  const dfs = config.device_flow_settings
  const path = dfs.verification_path
  const confirmPath = `${path}/confirm`
  const donePath = `${path}/done`
  const callbackPath = `${path}/callback`
  const frontend = config.ui.frontend_url
  /** Where the callback sends the person with its outcome: the result page, or the operator's front end (ui.frontend_url) with ?result=. */
  const resultPage = (result: 'approved' | 'denied' | 'expired' | 'error', reference?: string): string => frontend === undefined
    ? donePath
    : `${frontend}${frontend.includes('?') ? '&' : '?'}result=${result}${reference === undefined ? '' : `&reference=${encodeURIComponent(reference)}`}`
  const { codeFormats } = deps

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
      page = new PageError(status, { key: err.code === 'ERR_STORE_UNAVAILABLE' ? 'store' : 'idp_unavailable' })
    } else if (err instanceof OAuthError || (typeof (err as FastifyError).statusCode === 'number' && (err as FastifyError).statusCode! < 500)) {
      page = new PageError(400, { key: 'bad_form' })
    } else {
      req.log.error({ err }, 'unexpected error')
      page = new PageError(500, { key: 'unexpected' })
    }
    // the page shows the request id as its reference: this line is what a person's quote finds
    // (with the error's code, when it has one: invalid_request, ERR_STORE_UNAVAILABLE, …)
    req.log.info({ status: page.statusCode, page: page.text.key, error: err instanceof OAuthError ? err.error : (err as { code?: unknown }).code }, 'error page')
    if (frontend !== undefined && req.routeOptions.url === callbackPath) {
      reply.code(303).header('location', resultPage('error', req.id)).send()
      return
    }
    const session = cookie.parse(req.headers.cookie)
    const text = page.retry ? { ...page.text, retryHref: path } : page.text
    reply.code(page.statusCode).type('text/html; charset=utf-8')
      .send(pages.errorPage(localeOf(req, session), text, req.id, { path }))
  })

  app.get(path, {
    schema: { querystring: { type: 'object', properties: { user_code: { type: 'string' }, ui_locales: { type: 'string' } } } }
  }, async (req, reply) => {
    const query = req.query as { user_code?: string; ui_locales?: string }
    const session = withChosenLocale(sessionFor(req), query.ui_locales)
    const flash = session.flash
    delete session.flash
    const prefill = flash !== undefined && 'typed' in flash ? flash.typed : query.user_code?.slice(0, TYPED_MAX)
    const locale = localeOf(req, session)
    const here: Here = query.user_code === undefined ? { path } : { path, query: { user_code: query.user_code.slice(0, TYPED_MAX) } }
    return page(reply.header('set-cookie', cookie.serialize(session)), 200, pages.render('enter_code', locale, {
      form: { action: path, csrf: session.csrf },
      code: { ...codeField(codeFormats.list(clock.now()), prefill), value: prefill ?? '' },
      ...(flash !== undefined && 'error' in flash ? { error: flash.error } : {})
    }, here))
  })

  app.post(path, async (req, reply) => {
    const params = parseForm(req.headers['content-type'], req.body)
    const session = cookie.parse(req.headers.cookie)
    if (session === undefined || params.csrf === undefined || !safeEqual(params.csrf, session.csrf)) {
      throw new PageError(403, { key: 'csrf' })
    }
    const typed = params.user_code ?? ''
    const entry = await steps.enterCode(req, typed)
    if (entry.kind === 'throttled') throw tooMany(req, reply, entry.attempt)
    if (entry.kind === 'unknown') {
      // a code this browser settled is answered as such here only: anywhere else it is a wrong code like any other
      const settled = session.done?.code
      if (settled !== undefined && entry.candidates.some(code => safeEqual(settled, digest(code)))) {
        await steps.refund(req, entry)
        return seeOther(reply, { ...session, flash: { already: true } }, donePath)
      }
      steps.codeWrong(req)
      if (entry.attempt?.exhausted === true) throw tooMany(req, reply, entry.attempt)
      return seeOther(reply, { ...session, flash: { error: 'wrong_code', typed: typed.slice(0, TYPED_MAX) } }, path)
    }
    const grant = entry.grant
    // confirm before approve (RFC 8628 §5.4): a decision counts only for the request this browser
    // was shown on the confirm page; anything else is a lookup, which shows that page first
    const shown = session.confirm?.grant === grant.id
    switch (shown ? params.action : 'lookup') {
      case 'approve': return approve(req, reply, session, grant)
      case 'deny': return seeOther(reply, (await steps.deny(req, session, grant, 'denied on the confirm page')).session, donePath)
      default:
        steps.codeOk(req, grant)
        return seeOther(reply, steps.lookedUp(session, grant), confirmPath)
    }
  })

  app.get(confirmPath, {
    schema: { querystring: { type: 'object', properties: { ui_locales: { type: 'string' } } } }
  }, async (req, reply) => {
    const session = withChosenLocale(cookie.parse(req.headers.cookie), (req.query as { ui_locales?: string }).ui_locales)
    // Back to the confirm page of a request this browser settled shows its result again
    if (session?.confirm === undefined) return seeOther(reply, session ?? sessionFor(req), session?.done === undefined ? path : donePath)
    const locale = localeOf(req, session)
    const now = clock.now()
    const grant = await store.get(session.confirm.grant)
    if (!isPending(grant, now)) {
      if (now >= session.confirm.expires) return seeOther(reply, { ...carried(session), done: { kind: 'expired' } }, donePath)
      throw new PageError(409, { key: 'not_waiting' })
    }
    reply.header('set-cookie', cookie.serialize(session))
    return page(reply, 200, pages.render('confirm', locale, confirmView(req, grant, session.csrf, locale), { path: confirmPath }))
  })

  app.get(donePath, {
    schema: { querystring: { type: 'object', properties: { ui_locales: { type: 'string' } } } }
  }, async (req, reply) => {
    const session = withChosenLocale(cookie.parse(req.headers.cookie), (req.query as { ui_locales?: string }).ui_locales)
    const done = session?.done
    if (session === undefined || done === undefined) return seeOther(reply, session ?? sessionFor(req), path)
    const locale = localeOf(req, session)
    const already = session.flash !== undefined && 'already' in session.flash
    delete session.flash
    reply.header('set-cookie', cookie.serialize(session))
    const client = { name: done.client }
    const here = { path: donePath }
    switch (done.kind) {
      case 'approved': return page(reply, 200, pages.render(already ? 'already_connected' : 'approved', locale, { client, ...(done.account === undefined ? {} : { account: done.account }) }, here))
      case 'denied': return page(reply, 200, pages.render('denied', locale, { client }, here))
      case 'expired': return page(reply, 200, pages.render('expired', locale, {}, here))
    }
  })

  app.get(callbackPath, {
    schema: { querystring: { type: 'object', properties: { state: { type: 'string' }, code: { type: 'string' }, error: { type: 'string' }, error_description: { type: 'string' }, iss: { type: 'string' } } } }
  }, async (req, reply) => {
    const query = req.query as { state?: string; code?: string; error?: string; error_description?: string; iss?: string }
    const session = cookie.parse(req.headers.cookie)
    if (session?.grant === undefined || session.state === undefined || query.state === undefined || !safeEqual(query.state, session.state)) {
      throw new PageError(400, { key: 'other_browser' })
    }
    const grant = await store.get(session.grant)
    const login = grant?.login
    const cleared = carried(session)
    if (!isPending(grant, clock.now()) || login === undefined || !safeEqual(login.state, query.state)) {
      // the code ran out while the person was at the IdP: the cookie outlives it to say so
      if (session.expires !== undefined && clock.now() >= session.expires) return seeOther(reply, { ...cleared, done: { kind: 'expired' } }, resultPage('expired'))
      throw new PageError(400, { key: 'not_waiting' })
    }
    const meta = idp.discovery.current
    // RFC 9207 §2.4: a response from another issuer (mix-up attack) is not ours to act on, nor one
    // without iss from an IdP that says it always sends it
    if (query.iss === undefined ? meta?.authorization_response_iss_parameter_supported === true : query.iss !== meta?.issuer) {
      audit(req.log, 'verification.issuer_mismatch', { ...deviceFields(grant), ...approverFields(req), iss: query.iss === undefined ? 'missing' : 'unexpected' }, 'the authorization response did not name the IdP\'s issuer')
      throw new PageError(400, { key: 'issuer' })
    }
    const clientName = steps.clientName(grant)
    const as = idp.credentialsFor(clients.get(grant.client_id))
    if (query.error !== undefined) {
      const answer = { error: idpErrorCode(query.error), description: idpErrorDescription(query.error_description) }
      switch (idpAnswerKind(answer.error, answer.description)) {
        case 'misconfigured': {
          reply.header('set-cookie', cookie.serialize(cleared))
          return misconfigured(req, grant, login.state, as, 'authorization', answer)
        }
        case 'unavailable': {
          metrics.verification('idp_error')
          req.log.warn({ client_id: grant.client_id, grant_id: grant.id, idp_error: answer.error, ...(answer.description === undefined ? {} : { idp_error_description: answer.description }) }, 'the identity provider could not sign the person in just now; the grant keeps waiting')
          reply.header('set-cookie', cookie.serialize(cleared))
          throw new PageError(503, { key: 'idp_unavailable' })
        }
        case 'refused': {
          await store.settle(grant.id, { status: 'denied', description: `the identity provider refused the sign-in: ${answer.error}` }, clock.now(), login.state)
          metrics.verification('idp_error')
          audit(req.log, 'grant.denied', { ...deviceFields(grant), ...approverFields(req), by: 'idp', idp_error: answer.error }, 'IdP returned an error')
          return seeOther(reply, { ...cleared, done: { kind: 'denied', client: clientName, code: digest(grant.user_code) } }, resultPage('denied'))
        }
      }
    }
    if (query.code === undefined) throw new PageError(400, { key: 'incomplete' })

    let tokens: TokenResponse
    try {
      tokens = await idp.exchangeCode(as, query.code, login.code_verifier)
    } catch (err) {
      if (err instanceof IdpRefusal && err.kind === 'misconfigured') {
        reply.header('set-cookie', cookie.serialize(cleared))
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
        reply.header('set-cookie', cookie.serialize(cleared))
        throw new PageError(403, { key: 'sign_in_too_old' })
      }
    }
    const family = await startFamily(grant, tokens, subject)
    const parked = tokensForDevice(family === undefined ? tokens : { ...tokens, refresh_token: family.value }, grant.scopes)
    const settled = await store.settle(grant.id, subject === undefined ? { status: 'approved', tokens: parked } : { status: 'approved', tokens: parked, subject }, clock.now(), login.state)
    if (!settled) {
      if (family !== undefined) await store.endFamily(family.family)
      throw new PageError(409, { key: 'answered_meanwhile', title: 'error.not_waiting.title' })
    }
    if (family === undefined && typeof tokens.refresh_token === 'string') {
      await store.bindRefreshToken(digest(tokens.refresh_token), { client_id: grant.client_id, scopes: grant.scopes }, refreshTtlMs(tokens, dfs.refresh_binding_ttl_seconds))
    }
    metrics.verification('approved')
    audit(req.log, 'grant.approved', { ...deviceFields(grant), ...(subject === undefined ? {} : { sub: subject }), ...approverFields(req) }, 'grant approved')
    const account = accountName(claims)
    return seeOther(reply, { ...cleared, done: { kind: 'approved', client: clientName, ...(account === undefined ? {} : { account }), code: digest(grant.user_code) } }, resultPage('approved'))
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
    throw new PageError(502, { key: 'misconfigured' }, false)
  }

  function sessionFor (req: FastifyRequest): PageSession {
    return cookie.parse(req.headers.cookie) ?? { csrf: randomBytes(32).toString('base64url') }
  }

  /** The session with the language the person picked (a language link's ui_locales), when it names an enabled one. */
  function withChosenLocale<S extends PageSession | undefined> (session: S, uiLocales: string | undefined): S {
    const picked = pages.catalogue.chosen(uiLocales)
    return session === undefined || picked === undefined ? session : { ...session, locale: picked.tag }
  }

  /** The page's locale: the person's pick, else Accept-Language, else the default. */
  function localeOf (req: FastifyRequest, session: PageSession | undefined): Locale {
    return pages.localeFor(req.headers, { chosen: session?.locale })
  }

  function seeOther (reply: FastifyReply, session: PageSession, location: string): FastifyReply {
    return reply.header('set-cookie', cookie.serialize(session)).redirect(location, 303)
  }

  async function approve (req: FastifyRequest, reply: FastifyReply, session: PageSession, grant: DeviceGrant): Promise<FastifyReply> {
    const approval = await steps.approve(req, session, grant, localeOf(req, session), 'approved on the confirm page; sent to the IdP to sign in')
    if (approval === undefined) throw new PageError(400, { key: 'not_waiting' })
    return seeOther(reply, approval.session, approval.location)
  }

  function confirmView (req: FastifyRequest, grant: DeviceGrant, csrf: string, locale: Locale): Record<string, unknown> {
    const client = clients.get(grant.client_id)
    return {
      form: { action: path, csrf },
      user_code: formatUserCode(grant.user_code),
      client: {
        client_id: grant.client_id,
        name: steps.clientName(grant),
        logo_url: pages.assets.clientLogoUrl(grant.client_id),
        client_uri: client?.client_uri,
        policy_uri: client?.policy_uri,
        tos_uri: client?.tos_uri
      },
      scopes: grant.scopes.map(name => ({ name, description: pages.scopeWords(name, locale) })),
      requested: { iso: new Date(grant.created_at).toISOString(), ago: locale.ago(clock.now() - grant.created_at) },
      device: { ip: grant.device_ip, same_network: sameNetwork(grant.device_ip, req.ip) },
      sign_in: signInStep(grant, locale)
    }
  }

  /** What Approve leads to at the IdP, for the page to say (and promise nothing the IdP will not do). */
  function signInStep (grant: DeviceGrant, locale: Locale): { kind: 'login' | 'recent_login' | 'select_account' | 'consent' | 'session'; idp: string; duration?: string } {
    const { prompt, maxAge } = steps.signInPolicy(grant)
    const prompts = promptsFor(prompt, grant.scopes)
    const authorize = idp.discovery.current?.authorization_endpoint
    const at = new URL(authorize ?? config.upstream.url).host
    if (prompts.includes('login') || maxAge === 0) return { kind: 'login', idp: at }
    if (prompts.includes('select_account')) return { kind: 'select_account', idp: at }
    if (maxAge !== undefined) return { kind: 'recent_login', idp: at, duration: locale.duration(maxAge) }
    return { kind: prompts.includes('consent') ? 'consent' : 'session', idp: at }
  }

  /** 429: wrong codes from this address reached its limit, or, past the global bound, its tightened allowance. */
  function tooMany (req: FastifyRequest, reply: FastifyReply, attempt: AttemptAnswer): PageError {
    const seconds = steps.throttled(req, attempt)
    reply.header('retry-after', String(seconds))
    return new PageError(429, { key: 'throttled', body: attempt.tightened ? 'error.throttled.global' : 'error.throttled.address', values: { minutes: Math.ceil(seconds / 60) } }, false)
  }
}

/** The enter page's code field (enter_code.liquid `code`): what it shows to fit the codes it may be given. */
interface CodeField { length?: number; numeric: boolean; inputmode: 'numeric' | 'text'; placeholder: string }

/**
 * The field for the one format every client shares; when they differ, for the format of a code
 * the link carries (verification_uri_complete) when only one fits it, else one that fits every
 * format: the numeric keyboard only when all are digits, a placeholder and a length hint only when
 * all have the same length.
 */
function codeField (formats: readonly UserCodeFormat[], prefill: string | undefined): CodeField {
  const fitting = prefill === undefined || formats.length === 1 ? [] : formats.filter(f => normalizeUserCode(prefill, f.charset, f.length) !== undefined)
  const [only] = formats.length === 1 ? formats : fitting.length === 1 ? fitting : []
  const shown = only === undefined ? formats : [only]
  const digits = shown.filter(f => /^[0-9]+$/.test(f.charset)).length
  const numeric = digits === shown.length
  const length = shown[0]?.length
  // X stands for any character, 0 for a digit; • for either, when some formats are digits only
  const placeholder = numeric ? '0' : digits === 0 ? 'X' : '•'
  return length !== undefined && shown.every(f => f.length === length)
    ? { length, numeric, inputmode: numeric ? 'numeric' : 'text', placeholder: formatUserCode(placeholder.repeat(length)) }
    : { numeric, inputmode: numeric ? 'numeric' : 'text', placeholder: '' }
}

/** Whose account the device is now signed in as, in the words a person knows it by: email, username, name, else the subject. */
function accountName (claims: Record<string, unknown>): string | undefined {
  for (const claim of ['email', 'preferred_username', 'name', 'sub']) {
    const value = claims[claim]
    if (typeof value === 'string' && value.trim() !== '') return value.slice(0, 256)
  }
  return undefined
}

function page (reply: FastifyReply, status: number, markup: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(markup)
}

