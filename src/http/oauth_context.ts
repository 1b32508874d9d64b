import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { SidecarError } from '../errors.js'
import type { OAuthError } from '../oauth/errors.js'
import { errorAnswer, sendAnswer } from './answer.js'
import { deviceAuthorizationRoutes } from './device_authorization.js'
import type { RouteDeps } from './deps.js'
import { NO_STORE } from './deps.js'
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

/** Maps any error thrown in the JSON context to its status and OAuth body. */
export function oauthErrorHandler (err: FastifyError | OAuthError | SidecarError, req: FastifyRequest, reply: FastifyReply): void {
  sendAnswer(reply, errorAnswer(err, req.log))
}

/** Answers 405 with an OAuth body for a method the endpoint does not take. */
export function methodNotAllowed (allow: string) {
  return async (_req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.code(405).headers(NO_STORE).header('allow', allow).send({ error: 'invalid_request', error_description: `use ${allow}` })
  }
}
