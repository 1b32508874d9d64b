import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { errorLogFields, SidecarError } from '../../errors.js'
import { OAuthError, toBody } from '../../oauth/errors.js'
import { NO_STORE, NO_STORE_JSON, SIDECAR_ERROR_STATUS } from './deps.js'

/**
 * What the device endpoints read of a request. A FastifyRequest is one; so is the fast path's
 * request (src/http/plumbing/fast_path.ts), which answers the same endpoints ahead of fastify.
 */
export interface JsonRequest {
  readonly headers: IncomingHttpHeaders
  /** The client's address (behind trusted proxies, from X-Forwarded-For). */
  readonly ip: string
  /** The request's logger, with its request id. */
  readonly log: FastifyBaseLogger
}

/** A JSON endpoint's answer, written by fastify or by the fast path. */
export interface JsonAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** The JSON text (`headers` include its Content-Length). */
  readonly body: string
}

/** An answer with these headers (default: no-store JSON) and its Content-Length. */
export function answer (status: number, body: string, headers: Readonly<Record<string, string>> = NO_STORE_JSON): JsonAnswer {
  return { status, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, body }
}

/** Writes an answer through fastify. */
export function sendAnswer (reply: FastifyReply, a: JsonAnswer): FastifyReply {
  return reply.code(a.status).headers(a.headers).send(a.body)
}

const CHALLENGE_HEADERS = { ...NO_STORE_JSON, 'www-authenticate': 'Basic realm="device-flow-sidecar", charset="UTF-8"' }
const JSON_ERROR = (status: number, error: string, description: string): JsonAnswer => answer(status, JSON.stringify({ error, error_description: description }))

/**
 * The RFC 6749 §5.2 answer for anything a JSON endpoint threw: an OAuthError as its own body (401
 * with a Basic challenge when the client sent credentials), an internal error by its code's row in
 * SIDECAR_ERROR_STATUS, fastify's validation and body-reading errors as invalid_request, and
 * anything else as a generic 500 (logged with the request id, never sent).
 */
export function errorAnswer (err: unknown, log: FastifyBaseLogger): JsonAnswer {
  if (err instanceof OAuthError) {
    log.info({ error: err.error, detail: err.detail }, 'oauth error')
    const challenge = err.error === 'invalid_client' && 'challenge' in err && err.challenge === true
    return answer(err.statusCode, JSON.stringify(toBody(err)), challenge ? CHALLENGE_HEADERS : NO_STORE_JSON)
  }
  if (err instanceof SidecarError) {
    const { status, description } = SIDECAR_ERROR_STATUS[err.code]
    log.warn(errorLogFields(err), 'dependency error')
    return JSON_ERROR(status, status === 500 ? 'server_error' : 'temporarily_unavailable', description)
  }
  const fe = err as Partial<FastifyError>
  if (fe.validation !== undefined) {
    return JSON_ERROR(400, 'invalid_request', `request ${fe.validationContext ?? 'parameter'} ${fe.validation[0]?.instancePath ?? ''} ${fe.validation[0]?.message ?? 'is invalid'}`.replace(/\s+/g, ' ').trim())
  }
  if (typeof fe.code === 'string' && fe.code.startsWith('FST_ERR_CTP_')) {
    return JSON_ERROR(400, 'invalid_request', fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'the request body is too large' : 'the request body could not be read')
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return JSON_ERROR(400, 'invalid_request', 'the request could not be understood')
  }
  log.error({ err }, 'unexpected error')
  return JSON_ERROR(500, 'server_error', 'an unexpected error occurred')
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
