import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { SECRET_KEYS } from '../config/load.js'
import type { Config } from '../config/types.js'
import { failureLogFields } from '../errors.js'
import { secretsEqual } from '../oauth/client_auth.js'
import { GRANT_STATES, grantState, type DeviceGrant, type GrantState } from '../device/grant.js'
import type { RouteDeps } from '../http/plumbing/deps.js'
import { audit, deviceFields } from './audit.js'

const REVOKED = 'revoked by an administrator'
const MAX_LIST = 1000
/** How many live grants one client revocation walks at most (a bound on one request's work). */
const MAX_REVOKE = 100_000

/**
 * The admin listener (admin.host:admin.port): GET /metrics for Prometheus, and the admin API under
 * /admin, which requires `Authorization: Bearer <admin.token>` (off without a token). Every refused
 * token is audited; every revocation is audited with the grants it touched.
 */
export async function buildAdmin (deps: RouteDeps, log: FastifyBaseLogger): Promise<FastifyInstance> {
  const { store, clock, metrics } = deps
  const app = Fastify({
    loggerInstance: log.child({ listener: 'admin' }),
    logController: new LogController({ disableRequestLogging: true })
  })
  app.setNotFoundHandler((_req, reply) => { reply.code(404).send({ error: 'not_found' }) })
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    if (typeof err.statusCode === 'number' && err.statusCode < 500) {
      metrics.admin('invalid')
      reply.code(400).send({ error: 'invalid_request', error_description: 'the request could not be understood' })
      return
    }
    const unavailable = (err as { code?: string }).code === 'ERR_STORE_UNAVAILABLE'
    req.log.warn(failureLogFields(err), 'admin request failed')
    reply.code(unavailable ? 503 : 500).send({ error: unavailable ? 'temporarily_unavailable' : 'server_error' })
  })

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType).header('cache-control', 'no-store')
    return metrics.text()
  })

  await app.register(async api => {
    api.addHook('onRequest', async (req, reply) => {
      const token = deps.config.admin.token
      if (token === undefined) {
        return reply.code(404).send({ error: 'not_found', error_description: 'the admin API is off: set admin.token' })
      }
      if (!bearerMatches(req.headers.authorization, token)) {
        metrics.admin('unauthorized')
        audit(req.log, 'admin.unauthorized', { admin_ip: req.ip, method: req.method, path: req.url.split('?')[0] }, 'admin API request with a wrong or missing token')
        return reply.code(401).header('www-authenticate', 'Bearer realm="device-flow-sidecar admin"').send({ error: 'unauthorized' })
      }
    })
    api.addHook('onSend', async (_req, reply, payload) => {
      reply.header('cache-control', 'no-store')
      return payload
    })

    api.get('/grants', {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { client_id: { type: 'string', minLength: 1 }, state: { enum: [...GRANT_STATES] }, limit: { type: 'integer', minimum: 1, maximum: MAX_LIST, default: 100 } }
        }
      }
    }, async req => {
      const q = req.query as { client_id?: string; state?: GrantState; limit: number }
      const now = clock.now()
      const grants = await store.list({ ...(q.client_id === undefined ? {} : { client_id: q.client_id }), ...(q.state === undefined ? {} : { state: q.state }) }, now, q.limit)
      metrics.admin('ok')
      return { grants: grants.map(g => view(g, now)) }
    })

    api.delete('/grants/:id', async (req, reply) => {
      const { id } = req.params as { id: string }
      const now = clock.now()
      const grant = await store.get(id)
      if (grant === undefined) {
        metrics.admin('not_found')
        return reply.code(404).send({ error: 'not_found', error_description: 'no such grant' })
      }
      if (!await store.revoke(id, REVOKED, now)) {
        metrics.admin('invalid')
        return reply.code(409).send({ error: 'not_revocable', error_description: `the grant is ${grantState(grant, now)}: only pending and approved grants can be revoked`, grant: view(grant, now) })
      }
      metrics.admin('ok')
      audit(req.log, 'admin.revoked', { ...deviceFields(grant), admin_ip: req.ip, previous_state: grantState(grant, now) }, 'grant revoked by an administrator')
      return { revoked: 1, grant: view({ ...grant, status: 'denied' }, now) }
    })

    api.post('/clients/:client_id/revoke', async req => {
      const { client_id: clientId } = req.params as { client_id: string }
      const now = clock.now()
      const live = [
        ...await store.list({ client_id: clientId, state: 'pending' }, now, MAX_REVOKE),
        ...await store.list({ client_id: clientId, state: 'approved' }, now, MAX_REVOKE)
      ]
      const revoked: string[] = []
      for (const grant of live) {
        if (await store.revoke(grant.id, REVOKED, now)) revoked.push(grant.id)
      }
      metrics.admin('ok')
      audit(req.log, 'admin.revoked', { client_id: clientId, admin_ip: req.ip, revoked: revoked.length, grant_ids: revoked.slice(0, 100) }, 'every live grant of a client revoked by an administrator')
      return { revoked: revoked.length, grant_ids: revoked }
    })

    api.get('/config', async () => {
      metrics.admin('ok')
      return redact(deps.config)
    })
  }, { prefix: '/admin' })

  return app
}

/** What the admin API shows of a grant: never a code, a token, a login secret. */
function view (g: DeviceGrant, now: number): Record<string, unknown> {
  return {
    id: g.id,
    client_id: g.client_id,
    state: grantState(g, now),
    scopes: g.scopes,
    created_at: new Date(g.created_at).toISOString(),
    expires_at: new Date(g.expires_at).toISOString(),
    device_ip: g.device_ip,
    ...(g.device_user_agent === undefined ? {} : { device_user_agent: g.device_user_agent }),
    ...(g.subject === undefined ? {} : { sub: g.subject })
  }
}

function bearerMatches (authorization: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
  return m !== null && secretsEqual(m[1]!, token)
}

/** The effective config with every secret replaced, and passwords in URLs hidden. */
export function redact (config: Config): unknown {
  const walk = (value: unknown, key: string): unknown => {
    if (SECRET_KEYS.has(key) && value !== undefined) return '[redacted]'
    if (Array.isArray(value)) return value.map(v => walk(v, ''))
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]))
    if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(value)) return value.replace(/:\/\/([^/:@\s]*):[^/@\s]*@/, '://$1:[redacted]@')
    return value
  }
  return walk(config, '')
}

