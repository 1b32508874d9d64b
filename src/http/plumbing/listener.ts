/**
 * The public listener's node:http server, made once per process: it listens as soon as the config
 * is valid (answering "not ready" meanwhile, http/plumbing/not_ready.ts) and fastify adopts it once the app
 * is built (FastPath.serverFactory), so the port never closes between the two and the served
 * server is the one fastify would have made itself. Pinned by test/regressions/listens_before_idp.test.ts.
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import type { Config } from '../../config/types.js'
import { trustedPeers } from './client_address.js'
import { limitConnectionsPerAddress } from './connections.js'

const HEADERS_TIMEOUT_MS = 60_000
const CONNECTIONS_CHECK_MS = 1_000
/** What fastify sets on a server it creates itself (lib/server.js). */
const KEEP_ALIVE_TIMEOUT_MS = 72_000

/**
 * A server with fastify's timeouts for server.request_timeout_seconds and the per-address
 * connection limit (server.max_connections_per_ip; trusted proxies exempt), answering `handler`
 * (if given) until an app adopts it. Not listening yet.
 */
export function createListener (config: Config, handler?: RequestListener): Server {
  const requestTimeout = config.server.request_timeout_seconds * 1000
  const server = createServer({
    requestTimeout,
    // node's own default (60 s), but never longer than the whole request may take
    headersTimeout: requestTimeout === 0 ? HEADERS_TIMEOUT_MS : Math.min(HEADERS_TIMEOUT_MS, requestTimeout),
    // how often node looks for requests past their time (its default, 30 s, would let a 30 s limit hold for 60)
    connectionsCheckingInterval: CONNECTIONS_CHECK_MS
  }, handler)
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
  server.setTimeout(0)
  const trust = trustedPeers(config.server.trust_proxy)
  limitConnectionsPerAddress(server, config.server.max_connections_per_ip, trust === undefined ? () => false : address => trust(address, 0))
  return server
}

/** What fastify does to a server it listened on when it closes: idle connections now, then waits for the rest. */
export function closeListener (server: Server): Promise<void> {
  return new Promise(resolve => {
    server.closeIdleConnections()
    server.close(() => { resolve() })
  })
}
