import type { Clock } from '../clock.js'
import { IssuerOriginError, SidecarError } from '../errors.js'
import type { EpochMs } from '../oauth/types.js'
import type { BackChannel } from './client.js'

/** The IdP's discovery document (OpenID Connect Discovery 1.0 §3; RFC 8414 §2), members we rely on typed. */
export interface ProviderMetadata {
  issuer: string
  authorization_endpoint: string
  token_endpoint: string
  jwks_uri?: string
  [member: string]: unknown
}

/** Where the IdP's discovery document is read from: {upstream.url}/.well-known/openid-configuration (OpenID Connect Discovery 1.0 §4). */
export function discoveryUrl (upstreamUrl: string): string {
  return `${upstreamUrl.replace(/\/+$/, '')}/.well-known/openid-configuration`
}

/** A URL as it may be shown (logs, /readyz): without user and password. */
export function shownUrl (url: string): string {
  try {
    const u = new URL(url)
    if (u.username === '' && u.password === '') return url
    u.username = ''
    u.password = ''
    return u.toString()
  } catch {
    return url
  }
}

/** What Discovery is configured with. */
export interface DiscoveryOptions {
  /** upstream.url: the document is read from {upstreamUrl}/.well-known/openid-configuration. */
  upstreamUrl: string
  /** upstream.issuer: any other issuer is refused. */
  expectedIssuer?: string
  /**
   * The origin of server.public_url in same-origin mode without upstream.issuer: an issuer on any
   * other origin is refused with ERR_ISSUER_ORIGIN (clients that check the issuer would reject the
   * sidecar's document, OpenID Connect Discovery 1.0 §4.3, RFC 8414 §3.3).
   */
  publicOrigin?: string
  refreshMs: number
  clock: Clock
}

/**
 * Fetches {upstream.url}/.well-known/openid-configuration and keeps it for `refreshMs`. After the
 * first success a failed refresh keeps serving the last good document, so an IdP hiccup does not
 * take the sidecar's own endpoints down. Every rejection is a SidecarError whose message names the
 * URL fetched and what came back (the status, or the connection error's code).
 */
export class Discovery {
  /** The URL the document is read from. */
  readonly url: string
  /** The same as it is shown in messages (shownUrl). */
  readonly #shown: string
  readonly #back: BackChannel
  readonly #expectedIssuer: string | undefined
  readonly #publicOrigin: string | undefined
  readonly #refreshMs: number
  readonly #clock: Clock
  #doc: ProviderMetadata | undefined
  #fetchedAt: EpochMs = 0
  #inflight: Promise<ProviderMetadata> | undefined

  constructor (back: BackChannel, options: DiscoveryOptions) {
    this.#back = back
    this.url = discoveryUrl(options.upstreamUrl)
    this.#shown = shownUrl(this.url)
    this.#expectedIssuer = options.expectedIssuer
    this.#publicOrigin = options.expectedIssuer === undefined ? options.publicOrigin : undefined
    this.#refreshMs = options.refreshMs
    this.#clock = options.clock
  }

  /** The last good document, if any was ever fetched. */
  get current (): ProviderMetadata | undefined {
    return this.#doc
  }

  /** A fresh-enough document: fetched when none is held or it is older than the refresh period. */
  async get (): Promise<ProviderMetadata> {
    if (this.#doc !== undefined && this.#clock.now() - this.#fetchedAt < this.#refreshMs) return this.#doc
    try {
      return await this.refresh()
    } catch (err) {
      if (this.#doc !== undefined) return this.#doc
      throw err
    }
  }

  /** Fetches the document now (one request at a time); rejects with SidecarError. */
  refresh (): Promise<ProviderMetadata> {
    this.#inflight ??= this.#fetch().finally(() => { this.#inflight = undefined })
    return this.#inflight
  }

  async #fetch (): Promise<ProviderMetadata> {
    let res
    try {
      res = await this.#back.send('discovery', this.url, { method: 'GET', headers: { accept: 'application/json' } })
    } catch (err) {
      const e = err as SidecarError
      throw new SidecarError(e.code, `${this.#shown} could not be fetched: ${failureCode(e)}`, { cause: err })
    }
    if (res.status !== 200) throw new SidecarError('ERR_UPSTREAM_RESPONSE', `${this.#shown} answered HTTP ${res.status}`)
    let doc: ProviderMetadata
    try {
      doc = JSON.parse(res.body.toString('utf8'))
    } catch (cause) {
      throw new SidecarError('ERR_UPSTREAM_RESPONSE', `${this.#shown} answered a body that is not JSON`, { cause })
    }
    for (const member of ['issuer', 'authorization_endpoint', 'token_endpoint'] as const) {
      if (typeof doc?.[member] !== 'string') throw new SidecarError('ERR_UPSTREAM_RESPONSE', `${this.#shown} answered a discovery document with no ${member}`)
    }
    if (this.#expectedIssuer !== undefined && doc.issuer !== this.#expectedIssuer) {
      throw new SidecarError('ERR_UPSTREAM_RESPONSE', `${this.#shown}: discovered issuer ${doc.issuer} is not the configured ${this.#expectedIssuer}`)
    }
    if (this.#publicOrigin !== undefined && originOf(doc.issuer) !== this.#publicOrigin) {
      throw new IssuerOriginError(doc.issuer, `the IdP's issuer ${doc.issuer} is not on public_url's origin ${this.#publicOrigin}: in same-origin mode (upstream.proxy: true) clients that check the issuer would reject the sidecar's discovery document. Make the IdP publish its issuer on ${this.#publicOrigin}: Keycloak: start it with --hostname ${this.#publicOrigin} (or --proxy-headers xforwarded, so it believes the X-Forwarded-Host and -Proto the sidecar sends); oidc-provider: create the Provider with that issuer and set provider.proxy = true behind a proxy. If this issuer is meant, set upstream.issuer: ${doc.issuer}`)
    }
    this.#back.setPublicIssuer(doc.issuer)
    this.#doc = doc
    this.#fetchedAt = this.#clock.now()
    return doc
  }
}

/** The origin of a URL; the string itself when it is none (then it matches no origin). */
function originOf (url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return url
  }
}

/** What a failed fetch came to: the connection error's code (ECONNREFUSED, ENOTFOUND, …), or a timeout. */
function failureCode (err: SidecarError): string {
  if (err.code === 'ERR_UPSTREAM_TIMEOUT') return 'no answer in time'
  let cause = err.cause as { code?: unknown; cause?: unknown } | undefined
  for (let depth = 0; depth < 4 && cause !== undefined && cause !== null; depth++) {
    if (typeof cause.code === 'string') return cause.code
    cause = cause.cause as typeof cause
  }
  return err.message
}
