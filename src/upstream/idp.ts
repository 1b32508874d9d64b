import type { JWTPayload } from 'jose'
import type { Clock } from '../clock.js'
import type { ClientConfig, Config, UpstreamCredentials, UpstreamPrompt } from '../config/types.js'
import { SidecarError } from '../errors.js'
import type { Seconds, TokenResponse } from '../oauth/types.js'
import { BackChannel, passableHeaders, type BackChannelOptions, type UpstreamResponse } from './client.js'
import { ClientAssertions, JWT_BEARER_ASSERTION } from './client_assertion.js'
import { IdTokenVerifier } from './id_token.js'
import { IdpRefusal } from './idp_answers.js'
import { Discovery, type DiscoveryOptions, type ProviderMetadata } from './metadata.js'

const OPENID = 'openid' // OIDC Core §3.1.2.1: makes the request an OpenID Connect one

/** What the authorization request to the IdP carries (RFC 6749 §4.1.1, RFC 7636, OIDC nonce). */
export interface AuthorizationRequest {
  /** The IdP client the person signs in to. */
  as: UpstreamCredentials
  state: string
  code_challenge: string
  nonce: string
  /** The scopes the device asked for; the IdP is asked for these with openid (upstreamScopes). */
  scopes: readonly string[]
  /** What the IdP is asked for besides offline_access's consent; false: nothing. */
  prompt: UpstreamPrompt | false
  /** Sent as max_age when set (OIDC Core §3.1.2.1). */
  max_age?: Seconds
  /** The pages' locale, sent as ui_locales (OIDC Core §3.1.2.1) so the IdP's login speaks the same language. */
  ui_locales?: string
}

/**
 * The prompt values an authorization request carries, space-separated on the wire (OIDC Core
 * §3.1.2.1): the configured one, then `consent` when offline_access is asked for (OIDC Core §11).
 */
export function promptsFor (prompt: UpstreamPrompt | false, scopes: readonly string[]): UpstreamPrompt[] {
  const prompts: UpstreamPrompt[] = prompt === false ? [] : [prompt]
  if (scopes.includes('offline_access') && prompt !== 'consent') prompts.push('consent')
  return prompts
}

/**
 * The scopes the IdP is asked for on a device's approval: `openid` first, whatever the device asked
 * (the sidecar needs the ID token itself: it validates the sign-in, nonce, auth_time, and names the
 * subject), then the device's own. What the device gets back is cut to what it asked for
 * (http/plumbing/scopes.ts tokensForDevice).
 */
export function upstreamScopes (scopes: readonly string[]): string[] {
  return [OPENID, ...scopes.filter(s => s !== OPENID)]
}

/**
 * The IdP as the sidecar's own confidential client sees it: discovery, the authorization URL,
 * the code exchange, refresh with the sidecar's credentials, token pass-through, and ID-token
 * validation. Everything it rejects with is a SidecarError.
 */
export class Idp {
  readonly discovery: Discovery
  /** The redirect URI registered at the IdP: {public_url}{verification_path}/callback. */
  readonly redirectUri: string
  readonly #back: BackChannel
  readonly #verifier: IdTokenVerifier
  readonly #assertions: ClientAssertions
  #upstream: UpstreamCredentials
  #scopesOf: ProviderMetadata | undefined
  #scopes: ReadonlySet<string> | undefined

  constructor (config: Config, clock: Clock, observe?: BackChannelOptions['observe']) {
    this.#upstream = config.upstream
    this.redirectUri = `${config.server.public_url}${config.device_flow_settings.verification_path}/callback`
    this.#back = new BackChannel({ internalUrl: config.upstream.url, publicUrl: config.server.public_url, timeoutMs: config.upstream.timeout_seconds * 1000, ...(observe === undefined ? {} : { observe }) })
    const discoveryOptions: DiscoveryOptions = { upstreamUrl: config.upstream.url, refreshMs: config.upstream.discovery_refresh_seconds * 1000, clock }
    if (config.upstream.issuer !== undefined) discoveryOptions.expectedIssuer = config.upstream.issuer
    else if (config.upstream.proxy) discoveryOptions.publicOrigin = new URL(config.server.public_url).origin
    this.discovery = new Discovery(this.#back, discoveryOptions)
    this.#verifier = new IdTokenVerifier(this.#back, { clock })
    this.#assertions = new ClientAssertions(clock)
    this.#assertions.prepare(config.upstream)
    for (const client of config.clients) if (client.upstream !== undefined) this.#assertions.prepare(client.upstream)
  }

  /** The sidecar's own IdP credentials changed (a config reload); a private_key is imported now. */
  setCredentials (upstream: UpstreamCredentials): void {
    this.#assertions.prepare(upstream)
    this.#upstream = upstream
  }

  /** The IdP client a device client signs in as: its own `upstream` entry, else the sidecar's. */
  credentialsFor (client: ClientConfig | undefined): UpstreamCredentials {
    return client?.upstream ?? this.#upstream
  }

  /** The IdP's authorization endpoint with this login's parameters: prompt as promptsFor says, max_age when set. */
  async authorizationUrl (req: AuthorizationRequest): Promise<string> {
    const meta = await this.discovery.get()
    const url = new URL(meta.authorization_endpoint)
    url.searchParams.set('response_type', 'code')
    url.searchParams.set('client_id', req.as.client_id)
    url.searchParams.set('redirect_uri', this.redirectUri)
    url.searchParams.set('scope', upstreamScopes(req.scopes).join(' '))
    url.searchParams.set('state', req.state)
    url.searchParams.set('nonce', req.nonce)
    url.searchParams.set('code_challenge', req.code_challenge)
    url.searchParams.set('code_challenge_method', 'S256')
    const prompts = promptsFor(req.prompt, req.scopes)
    if (prompts.length > 0) url.searchParams.set('prompt', prompts.join(' '))
    if (req.max_age !== undefined) url.searchParams.set('max_age', String(req.max_age))
    if (req.ui_locales !== undefined) url.searchParams.set('ui_locales', req.ui_locales)
    return url.toString()
  }

  /**
   * Exchanges an authorization code at the IdP (RFC 6749 §4.1.3, RFC 7636 §4.5). Rejects with
   * IdpRefusal when the IdP answers an OAuth error body (RFC 6749 §5.2), else with
   * ERR_UPSTREAM_RESPONSE for an answer that is no token response.
   */
  async exchangeCode (as: UpstreamCredentials, code: string, codeVerifier: string): Promise<TokenResponse> {
    const res = await this.#tokenRequest(as, { grant_type: 'authorization_code', code, redirect_uri: this.redirectUri, code_verifier: codeVerifier })
    const body = parseJson(res)
    if (res.status !== 200 || typeof body?.access_token !== 'string' || typeof body?.token_type !== 'string') {
      if (res.status !== 200 && typeof body?.error === 'string') throw new IdpRefusal(res.status, body.error, typeof body.error_description === 'string' ? body.error_description : undefined)
      throw new SidecarError('ERR_UPSTREAM_RESPONSE', `code exchange refused: HTTP ${res.status}`)
    }
    return body as TokenResponse
  }

  /** A refresh_token grant sent with the sidecar's own credentials (as `as`); the IdP's answer as it came. */
  async refresh (as: UpstreamCredentials, params: { refresh_token: string; scope?: string }): Promise<UpstreamResponse> {
    const form: Record<string, string> = { grant_type: 'refresh_token', refresh_token: params.refresh_token }
    if (params.scope !== undefined) form.scope = params.scope
    return this.#tokenRequest(as, form)
  }

  /**
   * RFC 7009 §2.1: revokes a token at the IdP's revocation_endpoint as client `as` (the client the
   * token was issued to). Resolves the IdP's answer as it came; rejects with ERR_UPSTREAM_RESPONSE
   * when the IdP publishes no revocation_endpoint.
   */
  async revoke (as: UpstreamCredentials, token: string, hint?: 'access_token' | 'refresh_token'): Promise<UpstreamResponse> {
    const endpoint = (await this.discovery.get()).revocation_endpoint
    if (typeof endpoint !== 'string') throw new SidecarError('ERR_UPSTREAM_RESPONSE', 'the IdP publishes no revocation_endpoint')
    return this.#clientRequest('revocation', endpoint, as, hint === undefined ? { token } : { token, token_type_hint: hint })
  }

  /**
   * The IdP's scopes_supported (OpenID Connect Discovery §3, RFC 8414 §2) from the last good
   * discovery document, or undefined when it publishes none (then any scope may be asked for).
   * One Set per document, built when the document changes.
   */
  get scopesSupported (): ReadonlySet<string> | undefined {
    const meta = this.discovery.current
    if (meta !== this.#scopesOf) {
      this.#scopesOf = meta
      const published = meta?.scopes_supported
      this.#scopes = Array.isArray(published) ? new Set(published.filter((s): s is string => typeof s === 'string')) : undefined
    }
    return this.#scopes
  }

  /** The IdP's revocation_endpoint, if it publishes one (from the last good discovery document). */
  get revocationEndpoint (): string | undefined {
    const endpoint = this.discovery.current?.revocation_endpoint
    return typeof endpoint === 'string' ? endpoint : undefined
  }

  /**
   * The IdP's own device_authorization_endpoint (RFC 8628 §4), if its last good discovery document
   * publishes one: the IdP then has a device flow of its own, and the device clients the sidecar
   * does not serve are the IdP's (their device authorizations, polls and refreshes go to it).
   */
  get deviceAuthorizationEndpoint (): string | undefined {
    const endpoint = this.discovery.current?.device_authorization_endpoint
    return typeof endpoint === 'string' ? endpoint : undefined
  }

  /**
   * A device authorization request (RFC 8628 §3.1) of a client the sidecar does not serve, passed
   * to the IdP's own device_authorization_endpoint untouched (headers as forwardToken sends them);
   * rejects with ERR_UPSTREAM_RESPONSE when the IdP publishes none.
   */
  async forwardDeviceAuthorization (body: Buffer, headers: Record<string, string | string[] | undefined>, forwardedFor: string): Promise<UpstreamResponse> {
    const endpoint = (await this.discovery.get()).device_authorization_endpoint
    if (typeof endpoint !== 'string') throw new SidecarError('ERR_UPSTREAM_RESPONSE', 'the IdP publishes no device_authorization_endpoint')
    return this.#forward(endpoint, body, headers, forwardedFor)
  }

  /**
   * Any other token request, passed to the IdP with its body and end-to-end headers (passableHeaders:
   * no hop-by-hop fields, no Expect, none of the client's X-Forwarded-*, Forwarded, X-Real-IP), plus
   * the sidecar's X-Forwarded-For (`forwardedFor`) and X-Forwarded-Host/Proto from public_url.
   */
  async forwardToken (body: Buffer, headers: Record<string, string | string[] | undefined>, forwardedFor: string): Promise<UpstreamResponse> {
    const meta = await this.discovery.get()
    return this.#forward(meta.token_endpoint, body, headers, forwardedFor)
  }

  /** A revocation request of a client the sidecar does not serve, passed to the IdP's revocation_endpoint untouched. */
  async forwardRevocation (body: Buffer, headers: Record<string, string | string[] | undefined>, forwardedFor: string): Promise<UpstreamResponse> {
    const endpoint = (await this.discovery.get()).revocation_endpoint
    if (typeof endpoint !== 'string') throw new SidecarError('ERR_UPSTREAM_RESPONSE', 'the IdP publishes no revocation_endpoint')
    return this.#forward(endpoint, body, headers, forwardedFor)
  }

  /** Validates an ID token from the exchange against this login's nonce. */
  async verifyIdToken (as: UpstreamCredentials, idToken: string, nonce: string): Promise<JWTPayload> {
    const meta = await this.discovery.get()
    if (typeof meta.jwks_uri !== 'string') throw new SidecarError('ERR_UPSTREAM_RESPONSE', 'the IdP publishes no jwks_uri')
    return this.#verifier.verify(idToken, { issuer: meta.issuer, jwksUri: meta.jwks_uri, nonce, audience: as.client_id })
  }

  /** The discovery document (fresh enough), for the metadata route. */
  metadata (): Promise<ProviderMetadata> {
    return this.discovery.get()
  }

  close (): Promise<void> {
    return this.#back.close()
  }

  async #forward (endpoint: string, body: Buffer, headers: Record<string, string | string[] | undefined>, forwardedFor: string): Promise<UpstreamResponse> {
    const pass = passableHeaders(headers)
    pass['x-forwarded-for'] = forwardedFor
    return this.#back.send('forward', endpoint, { method: 'POST', headers: pass, body })
  }

  async #tokenRequest (as: UpstreamCredentials, form: Record<string, string>): Promise<UpstreamResponse> {
    return this.#clientRequest('token', (await this.discovery.get()).token_endpoint, as, form)
  }

  /** A form POST to one of the IdP's endpoints, authenticated as client `as` (RFC 6749 §2.3.1, or RFC 7523 §2.2 with a client assertion). */
  async #clientRequest (call: 'token' | 'revocation', endpoint: string, as: UpstreamCredentials, form: Record<string, string>): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }
    const params = new URLSearchParams(form)
    const secret = as.client_secret ?? ''
    if (as.token_endpoint_auth_method === 'private_key_jwt') {
      // RFC 7523 §2.2: client_id too (RFC 6749 §3.2.1 allows it; some IdPs look the client up by it)
      const meta = await this.discovery.get()
      params.set('client_id', as.client_id)
      params.set('client_assertion_type', JWT_BEARER_ASSERTION)
      params.set('client_assertion', await this.#assertions.sign(as, { issuer: meta.issuer, token_endpoint: meta.token_endpoint }))
    } else if (as.token_endpoint_auth_method === 'client_secret_basic') {
      // RFC 6749 §2.3.1: each part form-urlencoded, then Basic
      headers.authorization = `Basic ${Buffer.from(`${formEncode(as.client_id)}:${formEncode(secret)}`).toString('base64')}`
    } else {
      params.set('client_id', as.client_id)
      params.set('client_secret', secret)
    }
    return this.#back.send(call, endpoint, { method: 'POST', headers, body: params.toString() })
  }
}

function formEncode (s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+')
}

/** The body as a JSON object, or undefined. */
export function parseJson (res: UpstreamResponse): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(res.body.toString('utf8'))
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}
