import type { Clock } from '../clock.js'
import { SidecarError } from '../errors.js'
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

/**
 * Fetches {upstream.url}/.well-known/openid-configuration and keeps it for `refreshMs`. After the
 * first success a failed refresh keeps serving the last good document, so an IdP hiccup does not
 * take the sidecar's own endpoints down.
 */
export class Discovery {
  readonly #back: BackChannel
  readonly #url: string
  readonly #expectedIssuer: string | undefined
  readonly #refreshMs: number
  readonly #clock: Clock
  #doc: ProviderMetadata | undefined
  #fetchedAt: EpochMs = 0
  #inflight: Promise<ProviderMetadata> | undefined

  constructor (back: BackChannel, options: { upstreamUrl: string; expectedIssuer?: string; refreshMs: number; clock: Clock }) {
    this.#back = back
    this.#url = `${options.upstreamUrl.replace(/\/+$/, '')}/.well-known/openid-configuration`
    this.#expectedIssuer = options.expectedIssuer
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
    const res = await this.#back.send('discovery', this.#url, { method: 'GET', headers: { accept: 'application/json' } })
    if (res.status !== 200) throw new SidecarError('ERR_UPSTREAM_RESPONSE', `discovery answered HTTP ${res.status}`)
    let doc: ProviderMetadata
    try {
      doc = JSON.parse(res.body.toString('utf8'))
    } catch (cause) {
      throw new SidecarError('ERR_UPSTREAM_RESPONSE', 'discovery document is not JSON', { cause })
    }
    for (const member of ['issuer', 'authorization_endpoint', 'token_endpoint'] as const) {
      if (typeof doc?.[member] !== 'string') throw new SidecarError('ERR_UPSTREAM_RESPONSE', `discovery document has no ${member}`)
    }
    if (this.#expectedIssuer !== undefined && doc.issuer !== this.#expectedIssuer) {
      throw new SidecarError('ERR_UPSTREAM_RESPONSE', `discovered issuer ${doc.issuer} is not the configured ${this.#expectedIssuer}`)
    }
    this.#back.setPublicIssuer(doc.issuer)
    this.#doc = doc
    this.#fetchedAt = this.#clock.now()
    return doc
  }
}
