import type { Server } from 'node:http'
import type { Writable } from 'node:stream'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { pino, type Logger } from 'pino'
import { systemClock, type Clock } from './clock.js'
import type { ClientConfig, Config } from './config/types.js'
import { longestLifetime } from './config/client_flow.js'
import { createStore } from './device/store_factory.js'
import type { DeviceStore } from './device/store.js'
import type { RouteDeps } from './http/plumbing/deps.js'
import { healthRoutes } from './http/endpoints/health.js'
import { oauthContext } from './http/endpoints/oauth_context.js'
import { verificationRoutes } from './http/endpoints/verification.js'
import { verificationApiRoutes } from './http/endpoints/verification_api.js'
import { assetRoutes } from './http/endpoints/asset_routes.js'
import { qrRoutes } from './http/endpoints/qr.js'
import { verificationUris } from './http/plumbing/verification_uris.js'
import { Pages } from './ui/pages.js'
import { proxyPlugin } from './proxy/plugin.js'
import { planReload, type ReloadPlan } from './config/reload.js'
import { SESSION_OUTLIVES_CODE_SECONDS, SessionCookie } from './http/plumbing/cookie.js'
import { CodeFormats } from './http/plumbing/code_formats.js'
import { Limiter } from './http/plumbing/limits.js'
import { requestIds, requestLoggerFactory } from './http/plumbing/request_log.js'
import { SIDECAR_REVOCATION_PATH } from './http/endpoints/revocation.js'
import { buildAdmin } from './ops/admin.js'
import { Metrics } from './ops/metrics.js'
import { FastPath } from './http/plumbing/fast_path.js'
import { clientErrorHandler } from './http/plumbing/connections.js'
import { closeListener, createListener } from './http/plumbing/listener.js'
import { OwnPaths } from './http/plumbing/own_paths.js'
import { Idp } from './upstream/idp.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The admin listener (metrics, admin API), not yet listening; undefined when admin.enabled is false. */
    admin: FastifyInstance | undefined
    /**
     * Applies a newly loaded config: the client registry, secrets, limits and log level change at
     * once; pending grants and in-flight requests are untouched. Returns what changed and what
     * waits for a restart.
     */
    reload(next: Config): ReloadPlan
  }
}

/**
 * Listens on the main port (unless the app was given a server that listens already: then it only
 * becomes ready on it), then the admin port (listen on both, or on neither), and logs the banner:
 * the URL a person opens to enter a code.
 */
export async function listen (app: FastifyInstance, config: Config): Promise<void> {
  if (app.server.listening) await app.ready()
  else await app.listen({ host: config.server.host, port: config.server.port })
  try {
    await app.admin?.listen({ host: config.admin.host, port: config.admin.port })
  } catch (err) {
    await app.close()
    throw err
  }
  const verificationUri = verificationUris(config).verification_uri
  app.log.info({ event: 'server.started', verification_uri: verificationUri }, `device-flow-sidecar is up: people enter their codes at ${verificationUri}`)
}

/**
 * The process's logger: one JSON object per line (level, time, pid, hostname, msg) on stdout or
 * `stream`; request URLs reduced to their path (they carry user codes and authorization codes);
 * credentials removed. main.ts logs through it from the start, before the app exists.
 */
export function createLogger (config: Config, stream?: Writable): Logger {
  const options = {
    level: config.log.level,
    serializers: {
      req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, path: req.url.split('?')[0], ip: req.ip }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode })
    },
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'], remove: true }
  }
  return stream === undefined ? pino(options) : pino(options, stream)
}

/** What buildApp can be given instead of its defaults (tests inject a clock, a store, a log stream). */
export interface AppDeps {
  clock?: Clock
  store?: DeviceStore
  /** Where log lines go (default stdout); ignored when `logger` is given. */
  logStream?: Writable
  /**
   * The public listener's server (http/plumbing/listener.ts createListener), possibly listening already
   * (start.ts): the app answers on it from then on, and closes it when it closes. Default: a new one.
   */
  server?: Server
  /** The logger to use (main.ts's, which logged the start-up); default: createLogger(config, logStream). */
  logger?: Logger
  /** The pages, loaded with the config (main.ts checks them with it); default: Pages.load(config). */
  pages?: Pages
}

/**
 * Builds the sidecar for a validated config: fetches the IdP's discovery document (the token
 * endpoint's path comes from it), opens the store, and registers the JSON endpoints, the pages,
 * health and, in same-origin mode, the proxy. Never listens (fastify's app/server split).
 * Rejects with SidecarError when the IdP or the store cannot be reached.
 */
export async function buildApp (config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const clock = deps.clock ?? systemClock
  const pages = deps.pages ?? Pages.load(config)
  let store: DeviceStore | undefined
  const metrics = new Metrics({ store: () => store!, clock })
  const idp = new Idp(config, clock, (call, outcome, seconds) => { metrics.idpCall(call, outcome, seconds) })
  try {
    const meta = await idp.discovery.refresh()
    store = deps.store ?? await createStore(config, clock)
    // requests no route matched (and those fastify could not parse) share one label
    const unmatched = metrics.routeRecorder('unmatched')
    const genReqId = requestIds()
    const server = deps.server ?? createListener(config)
    // fastify closes a server it listened on itself; one listening before it existed is closed here
    const closeServer = server.listening
    const fastPath = new FastPath({ bodyLimit: config.server.body_limit_bytes, trustProxy: config.server.trust_proxy, logRequests: config.log.requests, genReqId, metrics, server })
    const app = Fastify(serverOptions(config, deps, unmatched, genReqId, fastPath))
    fastPath.attach(app)
    const routeDeps: RouteDeps = {
      config,
      store,
      idp,
      clock,
      clients: new Map<string, ClientConfig>(config.clients.map(c => [c.client_id, c])),
      codeFormats: new CodeFormats(config),
      tokenPath: new URL(meta.token_endpoint).pathname,
      revocationPath: typeof meta.revocation_endpoint === 'string' ? new URL(meta.revocation_endpoint).pathname : SIDECAR_REVOCATION_PATH,
      metrics,
      fastPath,
      limiter: new Limiter(store, clock, () => routeDeps.config.limits),
      pages,
      cookie: new SessionCookie({
        keys: config.server.cookie_keys ?? [SessionCookie.randomKey()],
        secure: config.server.public_url.startsWith('https:'),
        maxAgeSeconds: longestLifetime(config) + SESSION_OUTLIVES_CODE_SECONDS
      })
    }
    app.decorate('reload', (next: Config): ReloadPlan => {
      const plan = planReload(routeDeps.config, next)
      const live = plan.effective
      const registry = routeDeps.clients as Map<string, ClientConfig>
      registry.clear()
      for (const c of live.clients) registry.set(c.client_id, c)
      routeDeps.codeFormats.update(routeDeps.config, live, clock.now())
      idp.setCredentials(live.upstream)
      if (live.server.cookie_keys !== undefined) routeDeps.cookie.setKeys(live.server.cookie_keys)
      if (live.store.encryption_key !== undefined) routeDeps.store.rotateKeys?.(live.store.encryption_key)
      app.log.level = live.log.level
      routeDeps.config = live // limits and the admin token are read from here per request
      return plan
    })
    warnUnlistedScopes(app.log, config, idp.scopesSupported)
    const admin = config.admin.enabled ? await buildAdmin(routeDeps, app.log) : undefined
    app.decorate('admin', admin)
    const ownStore = deps.store === undefined ? store : undefined
    app.addHook('onClose', async () => {
      if (closeServer) await closeListener(server)
      await admin?.close()
      await idp.close()
      await ownStore?.close()
    })
    // request durations by the route's pattern, never the URL (which can carry codes): a hook on
    // each route that knows its pattern, rather than one global hook reading req.routeOptions
    // (which builds a fresh object of 13 fields on every read)
    app.addHook('onRoute', route => {
      const record = metrics.routeRecorder(route.url)
      const hook = (req: FastifyRequest, reply: FastifyReply, done: () => void): void => {
        record(req.method, reply.statusCode, reply.elapsedTime / 1000)
        done()
      }
      route.onResponse = route.onResponse === undefined ? [hook] : [...[route.onResponse].flat(), hook]
    })
    app.setNotFoundHandler((req, reply) => {
      unmatched(req.method, 404, reply.elapsedTime / 1000)
      reply.code(404).header('cache-control', 'no-store').send({ error: 'invalid_request', error_description: 'no such endpoint' })
    })
    // every route of the sidecar's own is registered in here: the proxy never takes their paths, however spelled
    const ownPaths = new OwnPaths()
    await app.register(async own => {
      own.addHook('onRoute', ownPaths.add)
      await own.register(oauthContext, routeDeps)
      await own.register(verificationRoutes, routeDeps)
      await own.register(verificationApiRoutes, routeDeps)
      await own.register(assetRoutes, { assets: pages.assets })
      await own.register(qrRoutes, routeDeps)
      await own.register(healthRoutes, routeDeps)
    })
    if (config.upstream.proxy) {
      await app.register(async proxied => {
        proxied.addHook('onRequest', ownPaths.guard)
        await proxied.register(proxyPlugin, { config, pages })
      })
    }
    return app
  } catch (err) {
    await idp.close()
    if (deps.store === undefined) await store?.close()
    throw err
  }
}

function serverOptions (config: Config, deps: AppDeps, unmatched: ReturnType<Metrics['routeRecorder']>, genReqId: () => string, fastPath: FastPath): FastifyServerOptions {
  return {
    // the device endpoints' POSTs are answered ahead of fastify (src/http/plumbing/fast_path.ts)
    serverFactory: fastPath.serverFactory,
    // none listed: fastify's plain request (no X-Forwarded-For parsed on every req.ip read)
    trustProxy: config.server.trust_proxy.length === 0 ? false : [...config.server.trust_proxy],
    logController: new LogController({ disableRequestLogging: !config.log.requests }),
    genReqId,
    requestTimeout: config.server.request_timeout_seconds * 1000,
    clientErrorHandler,
    childLoggerFactory: requestLoggerFactory,
    loggerInstance: deps.logger ?? createLogger(config, deps.logStream),
    frameworkErrors: (err, req, res) => {
      const reply = res as FastifyReply
      unmatched(req.method, 400, reply.elapsedTime / 1000)
      reply.code(400).header('cache-control', 'no-store').send({ error: 'invalid_request', error_description: err.code === 'FST_ERR_BAD_URL' ? 'the request URL is malformed' : 'the request could not be understood' })
    }
  }
}

/**
 * One warning per client whose scopes the IdP does not list in its published scopes_supported
 * (openid aside: every approval asks for it). OpenID Connect Discovery §3 lets an IdP leave some
 * out, so they are still asked for unless upstream.enforce_scopes_supported is on; an IdP that
 * refuses one ends the approval on the misconfiguration page (upstream/idp_answers.ts).
 */
function warnUnlistedScopes (log: FastifyBaseLogger, config: Config, supported: ReadonlySet<string> | undefined): void {
  if (supported === undefined) return
  for (const client of config.clients) {
    const unlisted = client.scopes.filter(s => s !== 'openid' && !supported.has(s))
    if (unlisted.length === 0) continue
    log.warn({ client_id: client.client_id, scopes: unlisted, enforce_scopes_supported: config.upstream.enforce_scopes_supported }, config.upstream.enforce_scopes_supported
      ? 'the IdP does not list these scopes of the client in scopes_supported: device authorizations asking for them are refused'
      : 'the IdP does not list these scopes of the client in scopes_supported: they are asked for anyway (it may leave some out); if it refuses them, approvals end on the misconfiguration page')
  }
}
