import type { FastifyInstance } from 'fastify'
import type { RouteDeps } from '../plumbing/deps.js'

/** Liveness (the process answers) and readiness (store answers, IdP discovery held). */
export async function healthRoutes (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  app.get('/healthz', async (_req, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    reply.header('cache-control', 'no-store')
    try {
      await deps.store.ping()
    } catch {
      return reply.code(503).send({ status: 'not ready', reason: 'the grant store is not answering' })
    }
    if (deps.idp.discovery.current === undefined) {
      return reply.code(503).send({ status: 'not ready', reason: 'the IdP discovery document has not been fetched' })
    }
    return reply.send({ status: 'ready' })
  })
}
