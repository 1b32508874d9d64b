#!/usr/bin/env node
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { createLogger, type AppDeps } from './app.js'
import { loadConfig } from './config/load.js'
import { jwksByClient } from './config/private_key.js'
import { Pages } from './ui/pages.js'
import type { ReloadPlan } from './config/reload.js'
import type { Config } from './config/types.js'
import { ConfigError, failureLogFields } from './errors.js'
import { Sidecar } from './start.js'

const USAGE = `usage: device-flow-sidecar --config FILE [--check-config | --print-jwks]
       device-flow-sidecar --version | --help`
const HELP = `${USAGE}

RFC 8628 device authorization in front of an OAuth 2.0 / OpenID Connect IdP.

options:
  --config FILE     the YAML configuration (default: the file SIDECAR_CONFIG names)
  --check-config    validate the file, print every problem or "ok", exit 1 or 0
  --print-jwks      print, for each IdP client that signs in with a key
                    (private_key_jwt), the JWK Set to register at the IdP: public
                    keys only, as JSON { "<client_id>": { "keys": [ ... ] } }
  --version         print the version and exit
  --help            print this and exit

environment:
  SIDECAR_CONFIG    the configuration file when --config is not given
  \${VAR}            any variable a string value of the file names (a secret, say);
                    an unset one is a configuration problem

signals:
  SIGTERM, SIGINT   stop accepting, drain in-flight requests, exit 0
  SIGHUP            re-read the file (secret files included) and apply what can change
                    live; an invalid file is refused and the running one kept

exit status: 0 ok, 1 invalid configuration or failed start, 2 usage error`

/** package.json's version: two levels up when built (dist/src/main.js), one from src/main.ts. */
function version (): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown }
      if (pkg.name === 'device-flow-sidecar' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // not there (or not ours): the other layout
    }
  }
  return 'unknown'
}

/**
 * The command line: --config FILE (or SIDECAR_CONFIG), --check-config, --print-jwks, --version, --help.
 * Listens at once (not ready until the IdP's discovery arrives, start.ts), reloads on SIGHUP, and
 * drains in-flight requests on SIGTERM/SIGINT before exiting 0; exits 1 when start-up is stopped
 * (start.ts says what stops it).
 */
export async function main (argv: string[], env: NodeJS.ProcessEnv = process.env, deps: AppDeps = {}): Promise<number> {
  let args
  try {
    args = parseArgs({ args: argv, options: { config: { type: 'string' }, 'check-config': { type: 'boolean' }, 'print-jwks': { type: 'boolean' }, help: { type: 'boolean' }, version: { type: 'boolean' } } })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  if (args.values.help === true) {
    process.stdout.write(`${HELP}\n`)
    return 0
  }
  if (args.values.version === true) {
    process.stdout.write(`${version()}\n`)
    return 0
  }
  const file = args.values.config ?? env.SIDECAR_CONFIG
  if (file === undefined) {
    process.stderr.write(`no configuration file given (--config FILE or SIDECAR_CONFIG)\n${USAGE}\n`)
    return 2
  }
  let config: Config
  let pages: Pages
  try {
    config = loadConfig(file, env)
    // the pages are part of the configuration: a template or catalogue that does not load is a config problem
    pages = Pages.load(config)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    return 1
  }
  if (args.values['check-config'] === true) {
    process.stdout.write('ok\n')
    return 0
  }
  if (args.values['print-jwks'] === true) {
    const jwks = jwksByClient(config)
    if (Object.keys(jwks).length === 0) {
      process.stderr.write('no IdP client signs in with a key: set token_endpoint_auth_method: private_key_jwt and private_key in upstream or a client\'s upstream\n')
      return 1
    }
    process.stdout.write(`${JSON.stringify(jwks, null, 2)}\n`)
    return 0
  }
  // every line from here on is the process logger's, start-up included
  const log = deps.logger ?? createLogger(config, deps.logStream)
  let sidecar: Sidecar
  try {
    sidecar = await Sidecar.start(config, { ...deps, logger: log, pages })
  } catch (err) {
    log.fatal(failureLogFields(err), `could not start: ${(err as Error).message}`)
    return 1
  }
  // SIGHUP would end the process by default: from here on it reloads, before the IdP answers too
  const onHup = (): void => { reloadFrom(sidecar, file, env) }
  process.on('SIGHUP', onHup)
  try {
    const stopped = closeOnSignal(sidecar)
    const failed = await Promise.race([stopped.then(() => false), sidecar.ready.then(() => false, () => true)])
    if (failed) {
      await sidecar.close()
      return 1
    }
    await stopped
  } finally {
    process.off('SIGHUP', onHup)
  }
  return 0
}

/** What a reload is applied to: the running sidecar, or an app. */
interface Reloadable {
  reload(next: Config): ReloadPlan
  readonly log: FastifyBaseLogger
}

/**
 * SIGHUP: re-reads the config file (secrets from files included) and applies what can change
 * live. An invalid file is refused with every problem logged, and the running config is kept.
 */
export function reloadFrom (target: Reloadable, file: string, env: NodeJS.ProcessEnv = process.env): void {
  let next: Config
  try {
    next = loadConfig(file, env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    target.log.error({ event: 'config.reload_refused', problems: err.problems }, `configuration reload refused (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}); the running configuration is kept`)
    return
  }
  const plan = target.reload(next)
  target.log.info({ event: 'config.reloaded', applied: plan.applied, restart_only: plan.restartOnly }, 'configuration reloaded')
  if (plan.restartOnly.length > 0) {
    target.log.warn({ event: 'config.reload_restart_needed', restart_only: plan.restartOnly }, `changed in the file but applied only after a restart: ${plan.restartOnly.join(', ')}`)
  }
}

/**
 * Listens at once and resolves with the app once the IdP's discovery arrived and it serves
 * (start.ts); rejects with what stopped start-up.
 */
export async function serve (config: Config, deps: AppDeps = {}): Promise<FastifyInstance | undefined> {
  const sidecar = await Sidecar.start(config, deps)
  return sidecar.ready
}

/** Resolves once SIGTERM or SIGINT arrived and in-flight requests have drained. */
export function closeOnSignal (target: { close(): Promise<unknown>; readonly log: FastifyBaseLogger }): Promise<void> {
  return new Promise<void>(resolve => {
    const stop = (signal: string): void => {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
      target.log.info({ signal }, 'draining in-flight requests')
      target.close().then(() => { resolve() }, () => { resolve() })
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
    process.stderr.write(`fatal: ${(err as Error).message}\n`)
    process.exitCode = 1
  })
}
