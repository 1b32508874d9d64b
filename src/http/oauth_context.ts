import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { SidecarError } from '../errors.js'
import { OAuthError, toBody } from '../oauth/errors.js'
import { deviceAuthorizationRoutes } from './device_authorization.js'
import type { RouteDeps } from './deps.js'
import { NO_STORE, SIDECAR_ERROR_STATUS } from './deps.js'
import { metadataRoutes } from './metadata.js'
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
  await app.register(metadataRoutes, deps)
}

/** Maps any error thrown in the JSON context to its status and OAuth body. */
export function oauthErrorHandler (err: FastifyError | OAuthError | SidecarError, req: FastifyRequest, reply: FastifyReply): void {
  reply.headers(NO_STORE)
  if (err instanceof OAuthError) {
    req.log.info({ error: err.error, detail: err.detail }, 'oauth error')
    if (err.error === 'invalid_client' && 'challenge' in err && err.challenge === true) {
      reply.header('www-authenticate', 'Basic realm="device-flow-sidecar", charset="UTF-8"')
    }
    reply.code(err.statusCode).send(toBody(err))
    return
  }
  if (err instanceof SidecarError) {
    const { status, description } = SIDECAR_ERROR_STATUS[err.code]
    req.log.warn({ code: err.code, msg: err.message, cause: (err.cause as Error | undefined)?.message }, 'dependency error')
    reply.code(status).send({ error: status === 500 ? 'server_error' : 'temporarily_unavailable', error_description: description })
    return
  }
  const fe = err as FastifyError
  if (fe.validation !== undefined) {
    reply.code(400).send({ error: 'invalid_request', error_description: `request ${fe.validationContext ?? 'parameter'} ${fe.validation[0]?.instancePath ?? ''} ${fe.validation[0]?.message ?? 'is invalid'}`.replace(/\s+/g, ' ').trim() })
    return
  }
  if (typeof fe.code === 'string' && fe.code.startsWith('FST_ERR_CTP_')) {
    const description = fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'the request body is too large' : 'the request body could not be read'
    reply.code(400).send({ error: 'invalid_request', error_description: description })
    return
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    reply.code(400).send({ error: 'invalid_request', error_description: 'the request could not be understood' })
    return
  }
  req.log.error({ err }, 'unexpected error')
  reply.code(500).send({ error: 'server_error', error_description: 'an unexpected error occurred' })
}

/** Answers 405 with an OAuth body for a method the endpoint does not take. */
export function methodNotAllowed (allow: string) {
  return async (_req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.code(405).headers(NO_STORE).header('allow', allow).send({ error: 'invalid_request', error_description: `use ${allow}` })
  }
}
