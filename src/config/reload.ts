import { deepFreeze } from './load.js'
import type { Config } from './types.js'

/** What a reload applies live (JSON pointers); every other change waits for a restart. */
export const LIVE_PATHS = [
  '/clients',
  '/limits',
  '/log/level',
  '/upstream/client_id',
  '/upstream/client_secret',
  '/upstream/token_endpoint_auth_method',
  '/upstream/private_key',
  '/upstream/private_key_kid',
  '/upstream/token_endpoint_auth_signing_alg',
  '/upstream/client_assertion_audience',
  '/upstream/certificate',
  '/server/cookie_keys',
  '/store/encryption_key',
  '/admin/token'
] as const

export interface ReloadPlan {
  /** The config to run with: the new file's live settings over the running config. */
  effective: Config
  /** Live settings that changed (pointers only: never values, which may be secrets). */
  applied: string[]
  /** Settings that changed in the file but apply only after a restart (ports, store, paths, …). */
  restartOnly: string[]
}

/** Compares the running config with a newly loaded one and decides what changes now. */
export function planReload (running: Config, next: Config): ReloadPlan {
  const changed = diff(running, next, '')
  const under = (path: string, live: string): boolean => path === live || path.startsWith(`${live}/`)
  const applied = LIVE_PATHS.filter(live => changed.some(path => under(path, live)))
  const restartOnly = changed.filter(path => !LIVE_PATHS.some(live => under(path, live)))
  const effective = structuredClone(running) as MutableDeep<Config>
  effective.clients = structuredClone(next.clients) as MutableDeep<Config['clients']>
  effective.limits = structuredClone(next.limits) as MutableDeep<Config['limits']>
  effective.log.level = next.log.level
  effective.upstream.client_id = next.upstream.client_id
  set(effective.upstream, 'client_secret', next.upstream.client_secret)
  effective.upstream.token_endpoint_auth_method = next.upstream.token_endpoint_auth_method
  set(effective.upstream, 'private_key', next.upstream.private_key === undefined ? undefined : structuredClone(next.upstream.private_key) as MutableDeep<Config['upstream']>['private_key'])
  set(effective.upstream, 'private_key_kid', next.upstream.private_key_kid)
  set(effective.upstream, 'token_endpoint_auth_signing_alg', next.upstream.token_endpoint_auth_signing_alg)
  set(effective.upstream, 'certificate', next.upstream.certificate)
  effective.upstream.client_assertion_audience = next.upstream.client_assertion_audience
  // a deployment without cookie_keys keeps the random key it started with
  if (next.server.cookie_keys !== undefined) effective.server.cookie_keys = [...next.server.cookie_keys]
  set(effective.store, 'encryption_key', next.store.encryption_key === undefined ? undefined : [...next.store.encryption_key])
  set(effective.admin, 'token', next.admin.token)
  return { effective: deepFreeze(effective) as Config, applied, restartOnly }
}

type MutableDeep<T> = { -readonly [K in keyof T]: T[K] extends object ? MutableDeep<T[K]> : T[K] }

function set<T extends object, K extends keyof T> (target: T, key: K, value: T[K] | undefined): void {
  if (value === undefined) delete target[key]
  else target[key] = value
}

/** JSON pointers of the leaves (arrays whole) that differ between a and b. */
function diff (a: unknown, b: unknown, path: string): string[] {
  if (a === b) return []
  const objects = a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)
  if (!objects) return JSON.stringify(a) === JSON.stringify(b) ? [] : [path || '/']
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].flatMap(k => diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}/${k}`))
}
