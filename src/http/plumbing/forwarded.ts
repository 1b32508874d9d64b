import type { FastifyRequest } from 'fastify'

/**
 * The X-Forwarded-For to send on: the incoming chain kept only when the peer is a trusted proxy
 * (server.trust_proxy), followed by the peer's address.
 */
export function forwardedFor (req: FastifyRequest): string {
  const remote = req.socket.remoteAddress ?? ''
  const chain = req.ip !== remote ? req.headers['x-forwarded-for'] : undefined
  return chain === undefined ? remote : `${Array.isArray(chain) ? chain.join(', ') : chain}, ${remote}`
}
