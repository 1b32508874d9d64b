#!/usr/bin/env node
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { buildApp, createLogger, listen, type AppDeps } from './app.js'
import { loadConfig } from './config/load.js'
import type { Config } from './config/types.js'
import { ConfigError, errorLogFields, SidecarError } from './errors.js'

const RETRY_MS = 2_000
const USAGE = `usage: device-flow-sidecar --config FILE [--check-config]
  --config FILE     the YAML configuration (or set SIDECAR_CONFIG)
  --check-config    validate the file, print every problem or "ok", exit 1 or 0`

/**
 * The command line: --config FILE (or SIDECAR_CONFIG), --check-config. Waits for the IdP at
 * start-up (retrying), listens, and drains in-flight requests on SIGTERM/SIGINT before exiting 0.
 */
export async function main (argv: string[], env: NodeJS.ProcessEnv = process.env, deps: AppDeps = {}): Promise<number> {
  let args
  try {
    args = parseArgs({ args: argv, options: { config: { type: 'string' }, 'check-config': { type: 'boolean' }, help: { type: 'boolean' } } })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  if (args.values.help === true) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const file = args.values.config ?? env.SIDECAR_CONFIG
  if (file === undefined) {
    process.stderr.write(`no configuration file given\n${USAGE}\n`)
    return 2
  }
  let config: Config
  try {
    config = loadConfig(file, env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    return 1
  }
  if (args.values['check-config'] === true) {
    process.stdout.write('ok\n')
    return 0
  }
  // every line from here on is the app's logger's, start-up included
  const log = deps.logger ?? createLogger(config, deps.logStream)
  // SIGHUP would end the process by default: from here on it reloads (ignored while starting)
  let app: FastifyInstance | undefined
  const onHup = (): void => {
    if (app === undefined) log.warn({ signal: 'SIGHUP' }, 'SIGHUP ignored: still starting')
    else reloadFrom(app, file, env)
  }
  process.on('SIGHUP', onHup)
  try {
    app = await serve(config, { ...deps, logger: log })
    if (app !== undefined) await closeOnSignal(app)
  } catch (err) {
    log.fatal(failureFields(err), `could not start: ${(err as Error).message}`)
    return 1
  } finally {
    process.off('SIGHUP', onHup)
  }
  return 0
}

/**
 * SIGHUP: re-reads the config file (secrets from files included) and applies what can change
 * live. An invalid file is refused with every problem logged, and the running config is kept.
 */
export function reloadFrom (app: FastifyInstance, file: string, env: NodeJS.ProcessEnv = process.env): void {
  let next: Config
  try {
    next = loadConfig(file, env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    app.log.error({ event: 'config.reload_refused', problems: err.problems }, `configuration reload refused (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}); the running configuration is kept`)
    return
  }
  const plan = app.reload(next)
  app.log.info({ event: 'config.reloaded', applied: plan.applied, restart_only: plan.restartOnly }, 'configuration reloaded')
  if (plan.restartOnly.length > 0) {
    app.log.warn({ event: 'config.reload_restart_needed', restart_only: plan.restartOnly }, `changed in the file but applied only after a restart: ${plan.restartOnly.join(', ')}`)
  }
}

/** Builds (waiting for the IdP) and listens; undefined when a signal arrived while waiting. */
export async function serve (config: Config, deps: AppDeps = {}): Promise<FastifyInstance | undefined> {
  const app = await start(config, deps)
  if (app !== undefined) await listen(app, config)
  return app
}

/** Resolves once SIGTERM or SIGINT arrived and in-flight requests have drained. */
export function closeOnSignal (app: FastifyInstance): Promise<void> {
  return new Promise<void>(resolve => {
    const stop = (signal: string): void => {
      app.log.info({ signal }, 'draining in-flight requests')
      app.close().then(resolve, resolve)
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
}

/** buildApp, retried while the IdP cannot be reached; undefined when stopped meanwhile. */
async function start (config: Config, deps: AppDeps): Promise<FastifyInstance | undefined> {
  const log = deps.logger ?? createLogger(config, deps.logStream)
  let stopped = false
  const onSignal = (): void => { stopped = true }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  try {
    for (;;) {
      try {
        return await buildApp(config, deps)
      } catch (err) {
        if (!(err instanceof SidecarError) || !err.code.startsWith('ERR_UPSTREAM_') || stopped) throw err
        log.warn(errorLogFields(err), `waiting for the IdP at ${config.upstream.url}: ${err.message}`)
        await new Promise(resolve => setTimeout(resolve, RETRY_MS))
        if (stopped) return undefined
      }
    }
  } finally {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}

/** A start-up failure's log fields: an expected one (a dependency down, a port taken) in one line without a stack. */
function failureFields (err: unknown): object {
  if (err instanceof SidecarError) return errorLogFields(err)
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' ? { code, detail: (err as Error).message } : { err }
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
    process.stderr.write(`fatal: ${(err as Error).message}\n`)
    process.exitCode = 1
  })
}
