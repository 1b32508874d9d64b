/**
 * Start-up as an orchestrator needs it: the public port listens as soon as the config is valid,
 * answering "not ready" (http/plumbing/not_ready.ts: /healthz 200, /readyz 503 with the reason, 503
 * elsewhere) while the IdP's discovery document cannot be had. Discovery is retried in the
 * background with backoff, and each change of what came back is logged once, naming the URL
 * fetched. Once the document arrives, buildApp builds the app on the same server (fastify adopts
 * it, http/plumbing/listener.ts), so the port never closes and the app serves exactly as one that listened
 * itself. Why this way: fastify cannot add routes after it is ready, and the token, revocation
 * and discovery paths come from the IdP's document; building once keeps the steady state (the
 * fast path's poll included) what it always was.
 *
 * What stops start-up instead of being retried (the process logs `startup.failed` and exits 1):
 * anything but the IdP being unreachable or answering badly — the store (Redis) unreachable, the
 * admin port taken, and in same-origin mode an IdP issuer on another origin than public_url
 * (ERR_ISSUER_ORIGIN: waiting cannot mend it, and a crash loop with the reason as its last line is
 * what an orchestrator shows best). Pinned by test/regressions/listens_before_idp.test.ts and
 * test/regressions/issuer_wrong_origin.test.ts.
 */
import type { Server } from 'node:http'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { buildApp, createLogger, listen, type AppDeps } from './app.js'
import { planReload, type ReloadPlan } from './config/reload.js'
import type { Config } from './config/types.js'
import { errorLogFields, failureLogFields, SidecarError } from './errors.js'
import { clientErrorHandler } from './http/plumbing/connections.js'
import { closeListener, createListener } from './http/plumbing/listener.js'
import { NotReady } from './http/plumbing/not_ready.js'
import { Pages } from './ui/pages.js'
import { requestIds } from './http/plumbing/request_log.js'
import { discoveryUrl, shownUrl } from './upstream/metadata.js'

/** The first wait after a failed discovery, and after each change of what came back. */
const RETRY_FIRST_MS = 1_000
/** The longest wait between two attempts (the wait doubles up to it). */
const RETRY_MAX_MS = 15_000

/** The process's sidecar: listening from the start, its app once the IdP's discovery arrived. */
export class Sidecar {
  /** The public listener's server. */
  readonly server: Server
  /** Resolves with the app once it serves (undefined when closed before); rejects with what stopped start-up. */
  readonly ready: Promise<FastifyInstance | undefined>
  readonly #log: FastifyBaseLogger
  readonly #notReady: NotReady
  #config: Config
  #app: FastifyInstance | undefined
  #stopped = false
  #wake: (() => void) | undefined

  private constructor (config: Config, deps: AppDeps, log: FastifyBaseLogger) {
    this.#config = config
    this.#log = log
    this.#notReady = new NotReady(config.device_flow_settings.verification_path, requestIds(), log, deps.pages!)
    this.server = createListener(config, this.#notReady.handle)
    this.server.on('clientError', clientErrorHandler.bind({ log }))
    this.ready = new Promise<FastifyInstance | undefined>((resolve, reject) => {
      this.server.once('listening', () => { this.#run(deps).then(resolve, reject) })
    })
    // what stopped start-up is logged here; callers decide what to do with it
    this.ready.catch(() => {})
  }

  /** Listens on server.host:server.port at once (rejects when it cannot), then waits for the IdP in the background. */
  static async start (config: Config, deps: AppDeps = {}): Promise<Sidecar> {
    const log = deps.logger ?? createLogger(config, deps.logStream)
    const sidecar = new Sidecar(config, { ...deps, logger: log, pages: deps.pages ?? Pages.load(config) }, log)
    await new Promise<void>((resolve, reject) => {
      sidecar.server.once('error', reject)
      sidecar.server.listen({ host: config.server.host, port: config.server.port }, () => {
        sidecar.server.off('error', reject)
        resolve()
      })
    })
    const url = shownUrl(discoveryUrl(config.upstream.url))
    log.info({ event: 'server.listening', address: `http://${config.server.host}:${config.server.port}`, discovery: url }, `listening on ${config.server.host}:${config.server.port}; not ready until the IdP's discovery document is read from ${url}`)
    return sidecar
  }

  /** The app, once built. */
  get app (): FastifyInstance | undefined {
    return this.#app
  }

  /** The app's logger once it is built, the start-up's before. */
  get log (): FastifyBaseLogger {
    return this.#app?.log ?? this.#log
  }

  /**
   * A newly loaded config (SIGHUP): applied to the app as app.reload does; before the app exists,
   * its live settings replace the pending config's (the same plan), and the app is built with them.
   */
  reload (next: Config): ReloadPlan {
    if (this.#app !== undefined) return this.#app.reload(next)
    const plan = planReload(this.#config, next)
    this.#config = plan.effective
    this.#log.level = plan.effective.log.level
    return plan
  }

  /** Stops waiting, then drains and closes the app, or the not-ready listener. */
  async close (): Promise<void> {
    this.#stopped = true
    this.#wake?.()
    const app = await this.ready.catch(() => undefined)
    if (app !== undefined) await app.close()
    else if (this.server.listening) await closeListener(this.server)
  }

  async #run (deps: AppDeps): Promise<FastifyInstance | undefined> {
    let delay = RETRY_FIRST_MS
    let last: string | undefined
    while (!this.#stopped) {
      const config = this.#config
      let app: FastifyInstance
      try {
        app = await buildApp(config, { ...deps, server: this.server })
      } catch (err) {
        if (!(err instanceof SidecarError) || !err.code.startsWith('ERR_UPSTREAM_')) throw this.#failed(err)
        this.#notReady.reason = err.message
        if (err.message !== last) {
          last = err.message
          delay = RETRY_FIRST_MS
          this.#log.warn({ event: 'idp.discovery_failed', ...errorLogFields(err), url: shownUrl(discoveryUrl(config.upstream.url)), reason: err.message }, `not ready: ${err.message}; retrying`)
        }
        await this.#sleep(delay)
        delay = Math.min(delay * 2, RETRY_MAX_MS)
        continue
      }
      try {
        await listen(app, config)
      } catch (err) {
        throw this.#failed(err)
      }
      this.#app = app
      // a reload while the app was being built
      if (this.#config !== config) app.reload(this.#config)
      return app
    }
    return undefined
  }

  #failed (err: unknown): unknown {
    const e = err as { code?: string; issuer?: string; message?: string }
    this.#log.error({ event: 'startup.failed', ...failureLogFields(err), ...(e.issuer === undefined ? {} : { issuer: e.issuer, public_url: this.#config.server.public_url }) }, `start-up stopped: ${e.message ?? String(err)}`)
    return err
  }

  #sleep (ms: number): Promise<void> {
    return new Promise(resolve => {
      const timer = setTimeout(resolve, ms)
      this.#wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}
