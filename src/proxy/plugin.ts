/**
 * Same-origin front: every path the sidecar does not own goes to the IdP's internal origin,
 * untouched (method, path, query, body, cookies, redirects, status), with X-Forwarded-For/Proto/
 * Host added so the IdP builds its public URLs and sees the real client. Registered in its own
 * context so its catch-all routes and '*' body parser never touch the sidecar's own endpoints
 * (exact routes win over its wildcard). The sidecar's own session cookie is not passed on. An IdP that is down or slow gets 502/504, never a hang.
 * Pinned by test/proxy.test.ts.
 */
import type { IncomingHttpHeaders } from 'node:http'
import httpProxy from '@fastify/http-proxy'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/types.js'
import { withoutSessionCookie } from '../http/cookie.js'
import { forwardedFor } from '../http/forwarded.js'
import { pageHeaders } from '../http/page_headers.js'
import { errorPage } from '../views/error_page.js'

export async function proxyPlugin (app: FastifyInstance, opts: { config: Config }): Promise<void> {
  const { config } = opts
  const upstream = new URL(config.upstream.url).origin
  const proto = new URL(config.server.public_url).protocol.slice(0, -1)
  const timeoutMs = config.upstream.timeout_seconds * 1000

  await app.register(httpProxy, {
    upstream,
    prefix: '/',
    rewritePrefix: '/',
    websocket: false,
    internalRewriteLocationHeader: false,
    undici: { connectTimeout: timeoutMs, headersTimeout: timeoutMs, bodyTimeout: timeoutMs },
    disableRequestLogging: true, // request URLs carry user codes and authorization codes
    replyOptions: {
      rewriteRequestHeaders: (req, headers) => forwardedHeaders(req as FastifyRequest, headers, proto),
      onError: (reply, { error }) => { proxyError(reply as FastifyReply, error) }
    }
  })
}

function forwardedHeaders (req: FastifyRequest, headers: IncomingHttpHeaders, proto: string): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {
    ...headers,
    'x-forwarded-for': forwardedFor(req),
    'x-forwarded-proto': proto,
    'x-forwarded-host': req.headers.host ?? ''
  }
  const cookie = withoutSessionCookie(headers.cookie)
  if (cookie === undefined) delete out.cookie
  else out.cookie = cookie
  return out
}

function proxyError (reply: FastifyReply, error: Error & { statusCode?: number; code?: string }): void {
  const timeout = error.statusCode === 504 || (error.code ?? '').includes('TIMEOUT')
  const status = timeout ? 504 : 502
  const words = timeout ? 'did not answer in time' : 'cannot be reached'
  reply.log.warn({ code: error.code, status }, 'proxied request failed')
  const accept = reply.request.headers.accept ?? ''
  if (accept.includes('text/html')) {
    reply.code(status).headers(pageHeaders()).type('text/html; charset=utf-8')
      .send(errorPage({ title: 'Sign-in service unavailable', message: `Your sign-in service ${words}. Please try again in a minute.`, requestId: reply.request.id }))
    return
  }
  reply.code(status).header('cache-control', 'no-store')
    .send({ error: 'temporarily_unavailable', error_description: `the identity provider ${words}` })
}
