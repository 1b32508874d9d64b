/**
 * Same-origin front: every path the sidecar does not own goes to the IdP's internal origin with
 * its method, path, query, body, cookies, redirects and status untouched. Registered in its own
 * context so its catch-all routes and '*' body parser never touch the sidecar's own endpoints
 * (exact routes win over its wildcard). The sidecar's own session cookie is not passed on.
 *
 * What the IdP receives is what the sidecar wrote:
 * - the fields that describe the client are the sidecar's: X-Forwarded-Host/Proto from public_url
 *   (never the client's Host), X-Forwarded-For the peer after a trusted proxy's chain; a client's
 *   Forwarded, X-Real-IP and other X-Forwarded-* are dropped (upstream/client.ts passableHeaders);
 * - hop-by-hop fields (RFC 9110 §7.6.1) and Expect are stripped in both directions; node answers
 *   `Expect: 100-continue` itself and any other expectation with 417; a transfer coding other
 *   than chunked cannot be relayed and gets 400;
 * - a body is read in full, up to server.proxy_body_limit_bytes (413 beyond, nothing sent on), and
 *   goes on with its length, on a connection of its own that is closed afterwards: the IdP may
 *   answer before reading a body and drop the connection, which must not be the next request's.
 * An IdP that is down or slow gets 502/504, never a hang, and one log line without a stack.
 * Pinned by test/proxy.test.ts and test/adversarial/{forwarded_headers,hop_by_hop,upload_pool_reset}.test.ts.
 */
import type { IncomingHttpHeaders } from 'node:http'
import httpProxy from '@fastify/http-proxy'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { stdSerializers } from 'pino'
import { Agent, type Dispatcher } from 'undici'
import type { Config } from '../config/types.js'
import { withoutSessionCookie } from '../http/plumbing/cookie.js'
import { forwardedFor } from '../http/plumbing/forwarded.js'
import { pageHeaders } from '../http/plumbing/page_headers.js'
import { passableHeaders, relayableHeaders } from '../upstream/client.js'
import type { ErrorText, Pages } from '../ui/pages.js'

/** Upstream connections per IdP origin (what @fastify/reply-from would open). */
const CONNECTIONS = 128

export async function proxyPlugin (app: FastifyInstance, opts: { config: Config; pages: Pages }): Promise<void> {
  const { config, pages } = opts
  const upstream = new URL(config.upstream.url).origin
  const publicUrl = new URL(config.server.public_url)
  const written = { host: publicUrl.host, proto: publicUrl.protocol.slice(0, -1) }
  const timeoutMs = config.upstream.timeout_seconds * 1000
  const bodyLimit = config.server.proxy_body_limit_bytes
  const dispatcher = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connections: CONNECTIONS })
    .compose(ownConnectionForBodies)
  app.addHook('onClose', async () => { await dispatcher.close() })

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => { done(null, body) })
  app.addHook('onRequest', async (req, reply) => {
    const coding = req.headers['transfer-encoding']
    if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') return refuse(pages, reply, 400, 'only the chunked transfer coding can be relayed')
  })
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return refuse(pages, reply, 413, `the request body is larger than ${bodyLimit} bytes`)
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return refuse(pages, reply, err.statusCode, 'the request cannot be relayed')
    throw err
  })

  await app.register(httpProxy, {
    upstream,
    prefix: '/',
    rewritePrefix: '/',
    websocket: false,
    internalRewriteLocationHeader: false,
    proxyPayloads: false, // the parser above reads bodies, bounded
    undici: dispatcher,
    disableRequestLogging: true, // request URLs carry user codes and authorization codes
    // @fastify/reply-from logs each failed upstream request at warn, with the error: one line
    // (fastify's type says serializers return strings; pino's return any JSON value)
    logSerializers: { err: briefError(upstream) as unknown as (err: unknown) => string },
    handler: (request, reply, dest, options) => reply.from(dest, Buffer.isBuffer(request.body)
      ? { ...options, body: request.body, contentType: request.headers['content-type'] ?? 'application/octet-stream' }
      : options),
    replyOptions: {
      rewriteRequestHeaders: (req, headers) => upstreamHeaders(req as FastifyRequest, headers, written),
      rewriteHeaders: headers => relayableHeaders(headers, true),
      onError: (reply, { error }) => { proxyError(pages, reply as FastifyReply, error) }
    }
  })
}

/**
 * undici interceptor: a request that carries a body gets a connection of its own, closed once the
 * answer is in. An IdP may answer before reading a body and then drop the connection; it must not
 * go back to the pool for someone else's request. Body-less requests share the pool.
 */
const ownConnectionForBodies: Dispatcher.DispatcherComposeInterceptor = dispatch => (options, handler) =>
  dispatch(options.body === undefined || options.body === null || options.body === '' ? options : { ...options, reset: true }, handler)

/** What the IdP gets: the client's end-to-end fields, the sidecar's X-Forwarded-*, the body's own length. */
function upstreamHeaders (req: FastifyRequest, headers: IncomingHttpHeaders, written: { host: string; proto: string }): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {
    ...passableHeaders(headers),
    host: headers.host, // @fastify/reply-from's: the IdP's internal host
    'x-forwarded-for': forwardedFor(req),
    'x-forwarded-proto': written.proto,
    'x-forwarded-host': written.host
  }
  if (Buffer.isBuffer(req.body)) out['content-length'] = String(req.body.length)
  if (req.headers['content-type'] === undefined) delete out['content-type'] // @fastify/reply-from's default for a body
  const cookie = withoutSessionCookie(headers.cookie)
  if (cookie === undefined) delete out.cookie
  else out.cookie = cookie
  return out
}

/**
 * The err serializer of proxied requests: an error with a code (a connection refused, a timeout)
 * in one line with the IdP origin it was going to; anything else as pino writes it.
 */
function briefError (target: string): (err: Error & { code?: unknown }) => Record<string, unknown> {
  return err => {
    if (typeof err.code !== 'string') return stdSerializers.err(err) as unknown as Record<string, unknown>
    return { type: err.name, code: err.code, message: err.message, target }
  }
}

/** A request the proxy will not pass on: a 4xx in words, a page for browsers. */
function refuse (pages: Pages, reply: FastifyReply, status: number, description: string): FastifyReply {
  if (acceptsHtml(reply)) {
    return reply.code(status).headers(pageHeaders()).type('text/html; charset=utf-8')
      .send(errorPageFor(pages, reply, { key: status === 413 ? 'too_large' : 'not_understood' }))
  }
  return reply.code(status).header('cache-control', 'no-store').send({ error: 'invalid_request', error_description: description })
}

function proxyError (pages: Pages, reply: FastifyReply, error: Error & { statusCode?: number; code?: string }): void {
  const timeout = error.statusCode === 504 || (error.code ?? '').includes('TIMEOUT')
  const status = timeout ? 504 : 502
  const words = timeout ? 'did not answer in time' : 'cannot be reached'
  if (acceptsHtml(reply)) {
    reply.code(status).headers(pageHeaders()).type('text/html; charset=utf-8')
      .send(errorPageFor(pages, reply, { key: 'idp_unavailable', body: timeout ? 'error.idp_timeout.body' : 'error.idp_unreachable.body' }))
    return
  }
  reply.code(status).header('cache-control', 'no-store')
    .send({ error: 'temporarily_unavailable', error_description: `the identity provider ${words}` })
}

/** An error page in the request's language (Accept-Language; the proxy's paths have no page cookie). */
function errorPageFor (pages: Pages, reply: FastifyReply, text: ErrorText): string {
  const req = reply.request
  return pages.errorPage(pages.localeFor(req.headers), text, req.id, { path: req.url.split('?')[0]! })
}

function acceptsHtml (reply: FastifyReply): boolean {
  return (reply.request.headers.accept ?? '').includes('text/html')
}
