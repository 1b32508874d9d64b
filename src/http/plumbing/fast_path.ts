/**
 * The fast path: POST requests to the device endpoints (device authorization, RFC 8628 §3.1, and
 * device_code polls, §3.4) read and answered on node:http ahead of fastify, through fastify's own
 * `serverFactory`. Every other request, and any request here the fast path does not take, is
 * fastify's as before.
 *
 * Why: a TV fleet polls every few seconds per device, and fastify's per-request machinery (request
 * and reply objects, routing, hooks, the content-type parser and its async resource, the reply's
 * send pipeline) cost as much as the poll's own work on the bench machine (bench/README.md,
 * "Session 4"). The endpoint logic is not forked: the routes register one handler each, here and
 * in fastify (the same function), and it takes a JsonRequest and returns a JsonAnswer.
 *
 * What the fast path keeps of fastify's behaviour: the body limit; request ids from the same
 * generator and request loggers from the same factory (lines of both carry the same `reqId`);
 * `log.requests` access lines; the client address through the same trusted-proxy rules
 * (@fastify/proxy-addr, what fastify uses), over an X-Forwarded-For cut to its IP addresses
 * (client_address.ts: at entry for what goes to fastify, when first read for the fast path's own
 * requests); per-route request durations in the same histogram; RFC 6749 §5.2 error answers from
 * the same mapping (answer.ts); and, once the app is closing, fastify's 503 with `Connection:
 * close` (it passes everything on). The server itself is the public listener's
 * (http/plumbing/listener.ts), made with fastify's timeouts before the app exists.
 *
 * What it passes on to fastify untouched (so fastify's answers stay the reference): other methods
 * and paths, bodies without a Content-Length (chunked) or over the limit, and requests a route
 * declines after reading: a token request that is not a device_code poll goes on to fastify with
 * the body it already read, replayed by the route's preParsing hook (`bodyReadByFastPath`).
 * Pinned by test/fast_path.test.ts and by every test that polls or asks for a device code.
 */
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import proxyAddr from '@fastify/proxy-addr'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RequestPayload } from 'fastify'
import type { Maybe } from '../../maybe.js'
import type { Metrics } from '../../ops/metrics.js'
import { errorAnswer, type JsonAnswer, type JsonRequest } from './answer.js'
import { cleanForwardedFor, trustedPeers } from './client_address.js'
import { lazyRequestLogger } from './request_log.js'

/**
 * A fast-path route: answers the request (now or later), throws an error for errorAnswer, or
 * returns undefined to pass the request on to fastify (before any side effect).
 */
export type FastHandler = (req: JsonRequest, body: Buffer) => Maybe<JsonAnswer> | undefined

export interface FastPathOptions {
  /** server.body_limit_bytes: larger bodies are fastify's to refuse. */
  bodyLimit: number
  /** server.trust_proxy. */
  trustProxy: readonly string[]
  /** log.requests: the fast path writes fastify's two access lines per request too. */
  logRequests: boolean
  /** The request-id generator fastify's genReqId is given as well. */
  genReqId: () => string
  metrics: Metrics
  /** The public listener's server (http/plumbing/listener.ts createListener), which serverFactory hands to fastify. */
  server: Server
}

interface Route { handle: FastHandler; record: (method: string, status: number, seconds: number) => void }

/** The body a route read before passing the request on; replayed to fastify by bodyReadByFastPath. */
const BODY_READ = Symbol('dfs.bodyReadByFastPath')
type ReadRequest = IncomingMessage & { [BODY_READ]?: Buffer }
const EMPTY = Buffer.alloc(0)

/** What a FastRequest needs of its FastPath. */
interface RequestContext {
  readonly ipOf: (req: IncomingMessage) => string
  readonly genReqId: () => string
  /** The app's logger, parent of every request logger (set by attach, before the server listens). */
  log: FastifyBaseLogger | undefined
}

export class FastPath {
  readonly #routes = new Map<string, Route>()
  readonly #options: FastPathOptions
  readonly #context: RequestContext
  /** Whether any X-Forwarded-For may be believed (server.trust_proxy is not empty). */
  readonly #trusting: boolean
  #closing = false

  constructor (options: FastPathOptions) {
    this.#options = options
    const trust = trustedPeers(options.trustProxy)
    this.#trusting = trust !== undefined
    this.#context = {
      // without X-Forwarded-For the peer is the client, trusted or not (what proxy-addr answers too, after parsing the address)
      ipOf: trust === undefined ? peerAddress : req => {
        cleanForwardedFor(req)
        return req.headers['x-forwarded-for'] === undefined ? peerAddress(req) : proxyAddr(req, trust)
      },
      genReqId: options.genReqId,
      log: undefined
    }
  }

  /** Takes POST requests to `path` (any query string) that have a Content-Length within the limit. */
  post (path: string, handle: FastHandler): void {
    this.#routes.set(path, { handle, record: this.#options.metrics.routeRecorder(path) })
  }

  /**
   * fastify's `serverFactory`: the public listener's server (http/plumbing/listener.ts), listening already or
   * not, now answering through the fast path and then fastify; what answered before (the not-ready
   * handler and its client-error handler) is removed, and fastify adds its own client-error handler.
   */
  readonly serverFactory = (fastify: RequestListener): Server => {
    const server = this.#options.server
    server.removeAllListeners('request')
    server.removeAllListeners('clientError')
    server.on('request', (req: IncomingMessage, res: ServerResponse) => { this.#serve(req, res, fastify) })
    return server
  }

  /**
   * Binds the app: its logger is every request logger's parent; once it closes, fastify answers
   * everything, and each answer fastify writes from then on (those in flight too) carries
   * `Connection: close`: node closes only the connections idle when closing starts, and a
   * keep-alive client would otherwise hold the drain open for the keep-alive timeout (72 s).
   */
  attach (app: FastifyInstance): void {
    this.#context.log = app.log
    app.addHook('preClose', done => {
      this.#closing = true
      done()
    })
    app.addHook('onSend', (_req, reply, payload, done) => {
      if (this.#closing) reply.header('connection', 'close')
      done(null, payload)
    })
  }

  #serve (req: IncomingMessage, res: ServerResponse, fastify: RequestListener): void {
    const route = req.method === 'POST' && !this.#closing ? this.#routes.get(pathOf(req.url!)) : undefined
    if (route === undefined) {
      if (this.#trusting) cleanForwardedFor(req)
      fastify(req, res)
      return
    }
    const length = contentLength(req.headers['content-length'])
    if (!(length <= this.#options.bodyLimit)) {
      this.#passOn(req, res, fastify)
      return
    }
    const started = performance.now()
    const request = new FastRequest(req, this.#context)
    readBody(req, length, body => {
      let result: Maybe<JsonAnswer> | undefined
      try {
        result = route.handle(request, body)
      } catch (err) {
        result = errorAnswer(err, request.log)
      }
      if (result === undefined) {
        (req as ReadRequest)[BODY_READ] = body
        this.#passOn(req, res, fastify) // fastify writes its own access lines for it
        return
      }
      // written once the request is the fast path's, so a request passed on is logged once
      if (this.#options.logRequests) request.log.info({ req: { method: req.method, url: req.url, ip: request.ip } }, 'incoming request')
      if (result instanceof Promise) {
        result.then(a => { this.#write(res, route, request, started, a) }, (err: unknown) => { this.#write(res, route, request, started, errorAnswer(err, request.log)) })
      } else {
        this.#write(res, route, request, started, result)
      }
    })
  }

  #passOn (req: IncomingMessage, res: ServerResponse, fastify: RequestListener): void {
    this.#options.metrics.fastPath('passed_on')
    if (this.#trusting) cleanForwardedFor(req)
    fastify(req, res)
  }

  #write (res: ServerResponse, route: Route, request: FastRequest, started: number, a: JsonAnswer): void {
    this.#options.metrics.fastPath('answered')
    const ms = performance.now() - started
    route.record('POST', a.status, ms / 1000)
    res.writeHead(a.status, a.headers)
    res.end(a.body)
    if (this.#options.logRequests) request.log.info({ res: { statusCode: a.status }, responseTime: ms }, 'request completed')
  }
}

/**
 * A fast-path request as the endpoints see it. Its address and its logger (with a fresh request
 * id) are worked out when first read: most polls write no line and need no address.
 */
class FastRequest implements JsonRequest {
  readonly headers: IncomingMessage['headers']
  readonly #raw: IncomingMessage
  readonly #context: RequestContext
  #ip: string | undefined
  #log: FastifyBaseLogger | undefined

  constructor (raw: IncomingMessage, context: RequestContext) {
    this.headers = raw.headers
    this.#raw = raw
    this.#context = context
  }

  get ip (): string { return this.#ip ??= this.#context.ipOf(this.#raw) }

  get log (): FastifyBaseLogger { return this.#log ??= lazyRequestLogger(this.#context.log!, { reqId: this.#context.genReqId() }) }
}

/**
 * The route option `preParsing` of a route the fast path may pass requests on to: fastify reads
 * the body the fast path already read instead of the (ended) request stream.
 */
export function bodyReadByFastPath (request: FastifyRequest, _reply: FastifyReply, payload: RequestPayload, done: (err: null, payload: RequestPayload) => void): void {
  const body = (request.raw as ReadRequest)[BODY_READ]
  done(null, body === undefined ? payload : Readable.from([body]))
}

function peerAddress (req: IncomingMessage): string {
  return req.socket.remoteAddress ?? ''
}

function pathOf (url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

/** The Content-Length header as a number; NaN when absent (node's parser has already refused malformed ones). */
function contentLength (header: string | undefined): number {
  return header === undefined ? NaN : Number(header)
}

/**
 * Reads a body of `length` bytes (node's parser enforces the Content-Length) and hands it over as
 * soon as the last byte is in, without waiting for the stream's 'end' a tick later; a request
 * aborted midway is dropped, with nothing to answer.
 */
function readBody (req: IncomingMessage, length: number, done: (body: Buffer) => void): void {
  req.on('error', ignore) // the client went away: node closes the socket
  if (length === 0) {
    done(EMPTY)
    return
  }
  let received = 0
  let first: Buffer | undefined
  let chunks: Buffer[] | undefined
  req.on('data', (chunk: Buffer) => {
    received += chunk.length
    if (first === undefined) first = chunk
    else (chunks ??= [first]).push(chunk)
    if (received === length) done(chunks === undefined ? first : Buffer.concat(chunks, length))
  })
}

function ignore (): void {}
