/**
 * What the public listener refuses before any route runs: a client that opens more connections
 * than server.max_connections_per_ip (each further one is closed at once, so a slow client cannot
 * take every file descriptor), and requests that HTTP itself cannot carry (not received within
 * server.request_timeout_seconds, headers too large, not HTTP) — answered with an RFC 6749 §5.2
 * body and closed, as every other refusal of the sidecar is. Pinned by
 * test/adversarial/slow_request.test.ts.
 */
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { addressKey } from './address.js'

/**
 * Counts open connections per client address (IPv6 per /64) on `server`; past `max` a new
 * connection is destroyed as it is accepted. Peers for which `exempt` is true (trusted reverse
 * proxies, which carry many clients) are not counted.
 */
export function limitConnectionsPerAddress (server: Server, max: number, exempt: (address: string) => boolean): void {
  const open = new Map<string, number>()
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress
    if (address === undefined || exempt(address)) return
    const key = addressKey(address)
    const count = (open.get(key) ?? 0) + 1
    if (count > max) {
      socket.destroy()
      return
    }
    open.set(key, count)
    socket.once('close', () => {
      const left = open.get(key)! - 1
      if (left === 0) open.delete(key)
      else open.set(key, left)
    })
  })
}

/**
 * fastify's `clientErrorHandler` (and the not-ready listener's, start.ts): node's parser refused
 * the request, or it timed out.
 */
export function clientErrorHandler (this: { log: FastifyBaseLogger }, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, reason, description] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? [408, 'Request Timeout', 'the request was not received in time']
    : err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'the request headers are too large']
      : [400, 'Bad Request', 'the request is not valid HTTP/1.1']
  this.log.debug({ code: err.code, status }, 'request refused by the HTTP parser')
  if (socket.writable) {
    const body = JSON.stringify({ error: 'invalid_request', error_description: description })
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }
  socket.destroy()
}
