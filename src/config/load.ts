import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, resolve } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { ErrorObject } from 'ajv'
import addFormatsModule from 'ajv-formats'
import YAML from 'yaml'
import schema from '../../schemas/config.schema.json' with { type: 'json' }
import { ConfigError } from '../errors.js'
import type { Config } from './types.js'

/** Named user-code character sets; anything else is taken as a literal set. */
export const CHARSET_PRESETS: Readonly<Record<string, string>> = {
  BASE20: 'BCDFGHJKLMNPQRSTVWXZ', // RFC 8628 §6.1
  NUMERIC: '0123456789',
  ALPHANUMERIC: '23456789ABCDEFGHJKLMNPQRSTUVWXYZ' // no 0/O, 1/I
}
const MIN_USER_CODE_BITS = 20 // RFC 8628 §6.1 example: 8 chars of BASE20 ≈ 34.5 bits
const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void
const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: true, verbose: true })
addFormats(ajv)
// `x-problem`: the one line reported for a oneOf that failed, instead of one line per branch
ajv.addKeyword({ keyword: 'x-problem', schemaType: 'string' })
// `x-refused`: why a value someone may well write (prompt: none) is not allowed, instead of the enum list
ajv.addKeyword({ keyword: 'x-refused', schemaType: 'object' })
const validate = ajv.compile(schema)

/** Reads, substitutes, validates and freezes the configuration file; throws ConfigError listing every problem. */
export function loadConfig (path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError([`${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`])
  }
  return parseConfig(text, env, dirname(resolve(path)))
}

/** As loadConfig, from the YAML text; `{ file: PATH }` secrets are resolved against `baseDir`. */
export function parseConfig (text: string, env: NodeJS.ProcessEnv = process.env, baseDir = process.cwd()): Config {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map(e => `YAML: ${e.message.split('\n')[0]}`))
  }
  const problems: string[] = []
  const value = substitute(doc.toJS(), '', { env, baseDir, secret: false }, problems)
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(['/: must be a mapping (the YAML file is empty or not an object)'])
  }
  if (!validate(value)) {
    const errors = validate.errors ?? []
    problems.push(...errors.filter(e => !e.schemaPath.includes('/oneOf/')).map(describe))
  }
  if (problems.length === 0) crossCheck(value as MutableConfig, problems)
  if (problems.length > 0) throw new ConfigError(problems)
  return deepFreeze(value) as Config
}

function describe (e: ErrorObject): string {
  const at = e.instancePath === '' ? '/' : e.instancePath
  if (e.keyword === 'additionalProperties') {
    return `${at === '/' ? '' : at}/${String(e.params.additionalProperty)}: is not a known setting`
  }
  if (e.keyword === 'oneOf') {
    return `${at}: ${String((e.parentSchema as Record<string, unknown> | undefined)?.['x-problem'] ?? 'does not match any allowed form')}`
  }
  if (e.keyword === 'enum') {
    const refused = (e.parentSchema as Record<string, Record<string, string> | undefined> | undefined)?.['x-refused']?.[String(e.data)]
    if (refused !== undefined) return `${at}: ${JSON.stringify(e.data)} ${refused}`
    return `${at}: must be one of ${(e.params.allowedValues as unknown[]).map(v => JSON.stringify(v)).join(', ')}`
  }
  return `${at}: ${e.message ?? 'is invalid'}`
}

/** Keys whose values are secrets: each takes a literal, `${VAR}`, or `{ file: PATH }` (lists: per item). */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['client_secret', 'password', 'token', 'cookie_keys', 'encryption_key'])

interface Substitution { env: NodeJS.ProcessEnv; baseDir: string; secret: boolean }

/**
 * `${VAR}` in every string scalar, and `{ file: PATH }` in secret fields: the file's content with
 * its trailing newline trimmed (Kubernetes and Docker secrets). Problems are collected by path;
 * a secret's value never appears in a problem.
 */
function substitute (value: unknown, path: string, ctx: Substitution, problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (ref: string, name: string) => {
      const v = ctx.env[name]
      if (v === undefined) {
        problems.push(`${path || '/'}: environment variable ${name} is not set`)
        return ref // left as written, so the schema does not report the same value twice
      }
      return v
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, `${path}/${i}`, ctx, problems))
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
    if (ctx.secret && entries.length === 1 && entries[0]![0] === 'file') return readSecretFile(entries[0]![1], path, ctx, problems)
    const out: Record<string, unknown> = {}
    for (const [k, v] of entries) {
      const resolved = substitute(v, `${path}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`, { ...ctx, secret: SECRET_KEYS.has(k) }, problems)
      if (resolved !== undefined) out[k] = resolved // an unreadable secret file is reported once, not again by the schema
    }
    return out
  }
  return value
}

function readSecretFile (file: unknown, path: string, ctx: Substitution, problems: string[]): unknown {
  const name = substitute(file, `${path}/file`, { ...ctx, secret: false }, problems)
  if (typeof name !== 'string' || name === '') {
    problems.push(`${path}/file: must be a file path`)
    return undefined
  }
  try {
    return readFileSync(resolve(ctx.baseDir, name), 'utf8').replace(/\r?\n$/, '')
  } catch (err) {
    problems.push(`${path}/file: ${name} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    return undefined
  }
}

type MutableConfig = { -readonly [K in keyof Config]: any }

function crossCheck (config: MutableConfig, problems: string[]): void {
  const publicUrl = new URL(config.server.public_url)
  if (publicUrl.pathname !== '/' || publicUrl.search !== '' || publicUrl.hash !== '') {
    problems.push('/server/public_url: must be an origin without path, query or fragment')
  }
  if (publicUrl.protocol !== 'https:' && !isLoopback(publicUrl.hostname)) {
    problems.push('/server/public_url: must be https unless the host is a loopback address')
  }
  config.server.public_url = publicUrl.origin
  config.server.trust_proxy.forEach((entry: string, i: number) => {
    if (!isAddressOrCidr(entry)) problems.push(`/server/trust_proxy/${i}: ${JSON.stringify(entry)} is not an IP address or CIDR range`)
  })

  if (config.upstream.client_secret === undefined) {
    problems.push(`/upstream/client_secret: is required for ${config.upstream.token_endpoint_auth_method}`)
  }

  const dfs = config.device_flow_settings
  const charset: string = CHARSET_PRESETS[dfs.device_flow_usercode_charset] ?? dfs.device_flow_usercode_charset
  if (!/^[A-Z0-9]+$/.test(charset)) {
    problems.push('/device_flow_settings/device_flow_usercode_charset: must be BASE20, NUMERIC, ALPHANUMERIC, or a set of upper-case letters A–Z and digits')
  } else if (new Set(charset).size !== charset.length) {
    problems.push('/device_flow_settings/device_flow_usercode_charset: must not repeat a character')
  } else if (dfs.device_flow_usercode_length * Math.log2(charset.length) < MIN_USER_CODE_BITS) {
    problems.push(`/device_flow_settings/device_flow_usercode_length: ${dfs.device_flow_usercode_length} characters from a set of ${charset.length} give fewer than ${MIN_USER_CODE_BITS} bits; use a longer code or a larger set`)
  }
  dfs.device_flow_usercode_charset = charset
  if (dfs.device_flow_polling_interval_seconds >= dfs.device_flow_codelifetime_seconds) {
    // RFC 8628 §3.2: a device told to wait as long as its code lives could never poll it
    problems.push('/device_flow_settings/device_flow_polling_interval_seconds: must be shorter than device_flow_codelifetime_seconds')
  }
  if (dfs.device_authorization_path === dfs.verification_path || dfs.device_authorization_path === `${dfs.verification_path}/callback`) {
    problems.push('/device_flow_settings/device_authorization_path: must differ from the verification paths')
  }

  const store = config.store
  if (typeof store.encryption_key === 'string') store.encryption_key = [store.encryption_key]
  if (store.type === 'redis') {
    const redis = store.redis
    const modes = redis === undefined ? 0 : ['url', 'sentinel', 'cluster'].filter(k => redis[k] !== undefined).length
    if (modes !== 1) problems.push('/store/redis: give exactly one of url, sentinel or cluster')
    if (store.encryption_key === undefined) problems.push('/store/encryption_key: is required when store.type is redis')
    if (config.server.cookie_keys === undefined) problems.push('/server/cookie_keys: is required when store.type is redis (every replica must sign the page cookie alike)')
  } else if (store.redis !== undefined) {
    problems.push('/store/redis: is set, but store.type is memory')
  }

  const seen = new Set<string>()
  config.clients.forEach((client: { client_id: string; client_secret?: string; token_endpoint_auth_method: string; scopes: string[]; max_age_seconds?: number; upstream?: { client_secret?: string } }, i: number) => {
    if (client.upstream !== undefined && client.upstream.client_secret === undefined) {
      problems.push(`/clients/${i}/upstream/client_secret: is required`)
    }
    if (seen.has(client.client_id)) problems.push(`/clients/${i}/client_id: ${JSON.stringify(client.client_id)} is listed twice`)
    seen.add(client.client_id)
    if (client.token_endpoint_auth_method === 'none' && client.client_secret !== undefined) {
      problems.push(`/clients/${i}/client_secret: is set, but token_endpoint_auth_method is none`)
    }
    if (client.token_endpoint_auth_method !== 'none' && client.client_secret === undefined) {
      problems.push(`/clients/${i}/client_secret: is required for ${client.token_endpoint_auth_method}`)
    }
  })
}

function isLoopback (hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '')
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
}

/** Freezes a parsed config all the way down (a running config is never edited in place). */
export function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/** 192.0.2.1, 2001:db8::1, 10.0.0.0/8, fd00::/8 (what proxy-addr, behind fastify's trustProxy, accepts). */
function isAddressOrCidr (entry: string): boolean {
  const slash = entry.indexOf('/')
  const address = slash === -1 ? entry : entry.slice(0, slash)
  const family = isIP(address)
  if (family === 0) return false
  if (slash === -1) return true
  const bits = entry.slice(slash + 1)
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
}
