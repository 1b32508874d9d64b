import type { FastifyInstance } from 'fastify'
import { oauthErrorHandler } from '../plumbing/answer.js'
import type { RouteDeps } from '../plumbing/deps.js'
import { deviceAuthorizationRoutes } from './device_authorization.js'
import { metadataRoutes } from './metadata.js'
import { revocationRoutes } from './revocation.js'
import { tokenRoutes } from './token.js'

/**
 * The JSON endpoints in one encapsulated context: every body arrives raw (a Buffer) so handlers
 * parse forms strictly or pass bodies on untouched, and every error leaves as an RFC 6749 §5.2
 * body with Cache-Control: no-store (set per reply: a hook on every request costs more).
 */
export async function oauthContext (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  app.removeAllContentTypeParsers()
  const raw = { parseAs: 'buffer' as const, bodyLimit: deps.config.server.body_limit_bytes }
  const keep = (_req: unknown, body: Buffer | string, done: (err: null, body: Buffer | string) => void): void => { done(null, body) }
  // the form type by name (fastify matches it without the catch-all's slower search), then everything else
  app.addContentTypeParser('application/x-www-form-urlencoded', raw, keep)
  app.addContentTypeParser('*', raw, keep)
  app.setErrorHandler(oauthErrorHandler)
  await app.register(deviceAuthorizationRoutes, deps)
  await app.register(tokenRoutes, deps)
  await app.register(revocationRoutes, deps)
  await app.register(metadataRoutes, deps)
}
