/**
 * The back channel to the IdP: every request the sidecar itself makes (discovery, JWKS, code
 * exchange, refresh, token pass-through) goes through here, to the IdP's internal URL, with
 * bounded time. This is the only module that sees undici errors; `translate` turns each into a
 * SidecarError so nothing above upstream/ handles a foreign error.
 */
import { Agent, errors as undiciErrors, fetch as undiciFetch, request } from 'undici'
import type { IncomingHttpHeaders } from 'node:http'
import { SidecarError } from '../errors.js'

/** What the IdP answered, body read in full. */
export interface UpstreamResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

export interface BackChannelOptions {
  /** Where the sidecar reaches the IdP (upstream.url). */
  internalUrl: string
  /** Where people and devices reach the sidecar (server.public_url): sent as X-Forwarded-Host/Proto so the IdP builds public URLs. */
  publicUrl: string
  timeoutMs: number
  /** Told of every call's outcome and duration (the dfs_idp_request_duration_seconds histogram). */
  observe?: (call: BackChannelCall, outcome: 'ok' | 'error' | 'timeout', seconds: number) => void
}

/** What a back-channel call is for (a metrics label). */
export type BackChannelCall = 'discovery' | 'jwks' | 'token' | 'revocation' | 'forward'

/**
 * Fields that belong to one connection and are never relayed (RFC 9110 §7.6.1), in either
 * direction, besides those a Connection field names: Proxy-Connection (its pre-standard twin),
 * Proxy-Authenticate/-Authorization (for the next proxy, RFC 9110 §11.7), and HTTP2-Settings
 * (part of an h2c Upgrade, RFC 7540 §3.2.1).
 */
const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings', 'proxy-authenticate', 'proxy-authorization'])

/** Fields each message gets from the one who sends it on, never copied: Host and Content-Length. */
const MESSAGE_OWN = new Set(['host', 'content-length'])

/** undici agent and the URL mapping between the IdP's public origin and its internal one. */
export class BackChannel {
  readonly #agent: Agent
  readonly #internal: URL
  readonly #public: URL
  readonly #timeoutMs: number
  readonly #observe: NonNullable<BackChannelOptions['observe']>
  #publicIssuerOrigin: string

  constructor (options: BackChannelOptions) {
    this.#internal = new URL(options.internalUrl)
    this.#public = new URL(options.publicUrl)
    this.#timeoutMs = options.timeoutMs
    this.#observe = options.observe ?? (() => {})
    this.#publicIssuerOrigin = this.#public.origin
    this.#agent = new Agent({
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 4_000
    })
  }

  /** The origin the IdP's published endpoints use (its issuer's), mapped to the internal URL on every call. */
  setPublicIssuer (issuer: string): void {
    this.#publicIssuerOrigin = new URL(issuer).origin
  }

  /** An endpoint URL as published by the IdP, rewritten to the internal origin when it is on the IdP's public origin. */
  toInternal (endpoint: string): string {
    const url = new URL(endpoint)
    if (url.origin === this.#publicIssuerOrigin || url.origin === this.#public.origin) {
      url.protocol = this.#internal.protocol
      url.host = this.#internal.host
    }
    return url.toString()
  }

  /** Headers that tell the IdP which public origin the request belongs to. */
  forwardedHeaders (): Record<string, string> {
    return { 'x-forwarded-host': this.#public.host, 'x-forwarded-proto': this.#public.protocol.slice(0, -1) }
  }

  /** One request to the IdP (URL as published; mapped to internal). Rejects only with SidecarError. */
  async send (call: BackChannelCall, endpoint: string, init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string | Buffer }): Promise<UpstreamResponse> {
    const started = performance.now()
    const url = this.toInternal(endpoint)
    try {
      const res = await request(url, {
        method: init.method,
        headers: { ...this.forwardedHeaders(), ...init.headers },
        body: init.body,
        // a client's body the IdP may answer before reading: its connection is not reused
        ...(call === 'forward' ? { reset: true } : {}),
        dispatcher: this.#agent,
        signal: AbortSignal.timeout(this.#timeoutMs)
      })
      const body = Buffer.from(await res.body.arrayBuffer())
      this.#observe(call, 'ok', (performance.now() - started) / 1000)
      return { status: res.statusCode, headers: res.headers, body }
    } catch (err) {
      this.#failed(call, started, err, url)
    }
  }

  /** fetch for jose's remote JWKS, through the same agent and mapping. */
  readonly fetch = async (url: string, options: { headers: Headers; method: string; redirect: 'manual'; signal: AbortSignal }): Promise<Response> => {
    const headers: Record<string, string> = { ...this.forwardedHeaders() }
    options.headers.forEach((v, k) => { headers[k] = v })
    const started = performance.now()
    const internal = this.toInternal(url)
    try {
      const res = await undiciFetch(internal, { method: options.method, redirect: options.redirect, signal: options.signal, headers, dispatcher: this.#agent }) as unknown as Response
      this.#observe('jwks', 'ok', (performance.now() - started) / 1000)
      return res
    } catch (err) {
      this.#failed('jwks', started, err, internal)
    }
  }

  #failed (call: BackChannelCall, started: number, err: unknown, url: string): never {
    try {
      translate(err, url)
    } catch (translated) {
      this.#observe(call, (translated as SidecarError).code === 'ERR_UPSTREAM_TIMEOUT' ? 'timeout' : 'error', (performance.now() - started) / 1000)
      throw translated
    }
  }

  async close (): Promise<void> {
    await this.#agent.close()
  }
}

/**
 * Request fields to pass on to the IdP: the end-to-end ones, without those only the sidecar writes.
 * Dropped: hop-by-hop fields and any the Connection field names (RFC 9110 §7.6.1); Host and
 * Content-Length (the request to the IdP has its own); Expect (node has already answered a
 * 100-continue, and the body is read before anything is sent on); and the fields that describe
 * the client (X-Forwarded-*, Forwarded, X-Real-IP), which the sidecar writes itself from what it
 * knows: the peer, trust_proxy and public_url.
 */
export function passableHeaders (headers: IncomingHttpHeaders): Record<string, string> {
  const named = connectionNamed(headers)
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || MESSAGE_OWN.has(k) || describesClient(k) || k === 'expect' || named?.has(k) === true) continue
    out[k] = Array.isArray(v) ? v.join(', ') : v
  }
  return out
}

/** Response fields worth relaying from the IdP: the end-to-end ones (Content-Length too when `keepLength`). */
export function relayableHeaders (headers: IncomingHttpHeaders, keepLength = false): Record<string, string | string[]> {
  const named = connectionNamed(headers)
  const out: Record<string, string | string[]> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || (MESSAGE_OWN.has(k) && !(keepLength && k === 'content-length')) || named?.has(k) === true) continue
    out[k] = v
  }
  return out
}

/** Fields that describe the client to the next hop: only the sidecar writes these towards the IdP. */
function describesClient (name: string): boolean {
  return name.startsWith('x-forwarded-') || name === 'forwarded' || name === 'x-real-ip'
}

/** The field names a Connection field lists (RFC 9110 §7.6.1), lower-cased; undefined without one. */
function connectionNamed (headers: IncomingHttpHeaders): Set<string> | undefined {
  const connection = headers.connection
  if (connection === undefined) return undefined
  return new Set(String(connection).split(',').map(name => name.trim().toLowerCase()))
}

/**
 * Turns an undici, fetch or abort error into a SidecarError, once, here; its target is the URL
 * called, without its query (the log names where the call went, never what it carried).
 */
export function translate (err: unknown, url?: string): never {
  if (err instanceof SidecarError) throw err
  const target = url === undefined ? undefined : withoutQuery(url)
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } }
  const code = e.code ?? e.cause?.code
  if (e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError' || (typeof code === 'string' && /^UND_ERR_.*TIMEOUT$/.test(code)) || err instanceof undiciErrors.ConnectTimeoutError) {
    throw new SidecarError('ERR_UPSTREAM_TIMEOUT', 'the identity provider did not answer in time', { cause: err, target })
  }
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') {
    throw new SidecarError('ERR_UPSTREAM_UNREACHABLE', 'the identity provider cannot be reached', { cause: err, target })
  }
  throw new SidecarError('ERR_UPSTREAM_RESPONSE', 'the identity provider request failed', { cause: err, target })
}

function withoutQuery (url: string): string {
  const u = new URL(url)
  return `${u.origin}${u.pathname}`
}
