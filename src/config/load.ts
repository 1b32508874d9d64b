import { readFileSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, resolve } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { ErrorObject } from 'ajv'
import addFormatsModule from 'ajv-formats'
import YAML from 'yaml'
import schema from '../../schemas/config.schema.json' with { type: 'json' }
import { ConfigError } from '../errors.js'
import { readImageFile } from './image_file.js'
import { algFits, defaultAlg, describeKey, KeyProblem, readCertificate, readPrivateKey, thumbprint, type SigningKey } from './private_key.js'
import { isPublishedSample } from './sample_secrets.js'
import type { Config } from './types.js'

/** Named user-code character sets; anything else is taken as a literal set. */
export const CHARSET_PRESETS: Readonly<Record<string, string>> = {
  BASE20: 'BCDFGHJKLMNPQRSTVWXZ', // RFC 8628 §6.1
  NUMERIC: '0123456789',
  ALPHANUMERIC: '23456789ABCDEFGHJKLMNPQRSTUVWXYZ' // no 0/O, 1/I
}
const MIN_USER_CODE_BITS = 20 // RFC 8628 §6.1 example: 8 chars of BASE20 ≈ 34.5 bits
const MAX_SUGGESTED_LENGTH = 64
const PRIVATE_KEY_JWT = 'private_key_jwt' // RFC 7523 §2.2, OpenID Connect Core §9
/** Settings that mean something only with private_key_jwt. */
const KEY_SETTINGS = ['private_key', 'private_key_kid', 'token_endpoint_auth_signing_alg', 'certificate'] as const
const SAMPLE_REFUSED = 'is a published example value, known to anyone; use a secret of your own (e.g. `openssl rand -base64 33`), or a loopback public_url for a demo'
const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g
/** A logo given as a URL rather than a file (RFC 7591 has logo_uri a URL; here it is served by the sidecar). */
const LOGO_URL = /^(?:https?|data):/i
const LOGO_URL_REFUSED = 'is a URL: the verification pages load nothing from elsewhere (Content-Security-Policy img-src \'self\'), so the sidecar serves the logo itself; give the path of the PNG or SVG file'

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

/**
 * As loadConfig, from the YAML text; `{ file: PATH }` secrets are resolved against `baseDir`.
 * Schema and cross-field checks run in one pass: each cross-field check reads only values the
 * schema accepted, so a document broken in one place is still checked everywhere else, and the
 * ConfigError lists every problem once, sorted by path (test/regressions/config_one_pass.test.ts).
 */
export function parseConfig (text: string, env: NodeJS.ProcessEnv = process.env, baseDir = process.cwd()): Config {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map(e => oneLine(`YAML: ${e.message.split('\n')[0]}`)))
  }
  const problems: string[] = []
  const value = substitute(doc.toJS(), '', { env, baseDir, secret: false }, problems)
  if (!isRecord(value)) {
    throw new ConfigError(['/: must be a mapping (the YAML file is empty or not an object)'])
  }
  const refused = new Set(problems.map(pathOf))
  if (!validate(value)) {
    const errors = (validate.errors ?? []).filter(e => !e.schemaPath.includes('/oneOf/') && e.keyword !== 'propertyNames')
    problems.push(...errors.map(describe))
    for (const e of errors) if (e.keyword !== 'additionalProperties' && e.keyword !== 'required') refused.add(e.instancePath)
  }
  crossCheck(value, baseDir, path => ![...refused].some(r => r === path || r.startsWith(`${path}/`)), problems)
  if (problems.length > 0) throw new ConfigError(sortByPath([...new Set(problems.map(oneLine))]))
  return deepFreeze(value) as unknown as Config
}

function describe (e: ErrorObject): string {
  const at = e.instancePath === '' ? '/' : e.instancePath
  if (e.propertyName !== undefined) {
    // a key refused by propertyNames: named by its own path, in the words of the schema's x-problem
    return `${e.instancePath}/${pointerToken(e.propertyName)}: ${JSON.stringify(e.propertyName)} ${String((e.parentSchema as Record<string, unknown> | undefined)?.['x-problem'] ?? 'is not an allowed key')}`
  }
  if (e.keyword === 'additionalProperties') {
    const key = String(e.params.additionalProperty)
    const near = closest(key, Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}))
    return `${e.instancePath}/${pointerToken(key)}: is not a known setting${near === undefined ? '' : `; did you mean \`${near}\`?`}`
  }
  if (e.keyword === 'oneOf') {
    return `${at}: ${String((e.parentSchema as Record<string, unknown> | undefined)?.['x-problem'] ?? 'does not match any allowed form')}`
  }
  if (e.keyword === 'enum') {
    const refused = (e.parentSchema as Record<string, Record<string, string> | undefined> | undefined)?.['x-refused']?.[String(e.data)]
    if (refused !== undefined) return `${at}: ${JSON.stringify(e.data)} ${refused}`
    const allowed = e.params.allowedValues as unknown[]
    const near = typeof e.data === 'string' ? closest(e.data, allowed.filter(v => typeof v === 'string')) : undefined
    return `${at}: must be one of ${allowed.map(v => JSON.stringify(v)).join(', ')}${near === undefined ? '' : `; did you mean ${JSON.stringify(near)}?`}`
  }
  return `${at}: ${e.message ?? 'is invalid'}`
}

/**
 * The one candidate a typo most likely meant: the same word but for case and separators
 * (clientSecret, client-secret), else the nearest within 2 edits (1 for words of 3 characters or
 * fewer; a swap of two neighbours is one edit), else the only candidate that starts with the word
 * or that it starts with (timeout → timeout_seconds, warning → warn). Undefined when two tie,
 * and for words longer than any key (the distance table grows with the word).
 */
function closest (word: string, candidates: readonly string[]): string | undefined {
  if (word.length > MAX_SUGGESTED_LENGTH) return undefined
  const fold = (s: string): string => s.toLowerCase().replace(/[-_. ]/g, '')
  const same = candidates.filter(c => fold(c) === fold(word))
  if (same.length > 0) return same.length === 1 ? same[0] : undefined
  const lower = word.toLowerCase()
  let best: string[] = []
  let bestDistance = word.length <= 3 ? 1 : 2
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase())
    if (d < bestDistance) { best = [c]; bestDistance = d } else if (d === bestDistance) best.push(c)
  }
  if (best.length > 0) return best.length === 1 ? best[0] : undefined
  if (word.length < 4) return undefined
  const prefixed = candidates.filter(c => c.length >= 4 && (c.toLowerCase().startsWith(lower) || lower.startsWith(c.toLowerCase())))
  return prefixed.length === 1 ? prefixed[0] : undefined
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance (a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : j === 0 ? i : 0))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1)
    }
  }
  return d[a.length]![b.length]!
}

const pointerToken = (key: string): string => key.replaceAll('~', '~0').replaceAll('/', '~1')

/** The JSON pointer a problem line starts with. */
const pathOf = (problem: string): string => problem.slice(0, Math.max(0, problem.indexOf(': ')))

/** A problem is one line: control characters (a newline in a key, say) are written as escapes. */
function oneLine (problem: string): string {
  return problem.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, c =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Stable sort by JSON pointer, segment by segment, array indices in numeric order. */
function sortByPath (problems: readonly string[]): string[] {
  const key = (p: string): string[] => pathOf(p).split('/')
  return [...problems].sort((a, b) => {
    const ka = key(a)
    const kb = key(b)
    for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
      const x = ka[i]!
      const y = kb[i]!
      if (x === y) continue
      if (/^\d+$/.test(x) && /^\d+$/.test(y)) return Number(x) - Number(y)
      return x < y ? -1 : 1
    }
    return ka.length - kb.length
  })
}

/** Keys whose values are secrets: each takes a literal, `${VAR}`, or `{ file: PATH }` (lists: per item). */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['client_secret', 'private_key', 'password', 'token', 'cookie_keys', 'encryption_key'])
/** Keys that take `{ file: PATH }`: the secrets, and a certificate (public, so shown and never refused as a sample). */
const FILE_KEYS: ReadonlySet<string> = new Set([...SECRET_KEYS, 'certificate'])

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
      const resolved = substitute(v, `${path}/${pointerToken(k)}`, { ...ctx, secret: FILE_KEYS.has(k) }, problems)
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

type Doc = Record<string, unknown>
const isRecord = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v)
const record = (v: unknown): Doc | undefined => isRecord(v) ? v : undefined

/**
 * Checks the schema cannot express, each on values `fine` says the schema accepted (and only when
 * the parents it reads are objects), so that a document malformed elsewhere is still checked here.
 * Also normalises: public_url to its origin, charset presets to their set, one encryption key to a
 * list, file and directory paths to absolute ones (relative to `baseDir`, the config file's
 * directory), locale tags to their canonical case (en-us → en-US).
 */
function crossCheck (config: Doc, baseDir: string, fine: (path: string) => boolean, problems: string[]): void {
  const server = record(config.server)
  let loopback = false
  if (server !== undefined && typeof server.public_url === 'string' && fine('/server/public_url') && URL.canParse(server.public_url)) {
    const publicUrl = new URL(server.public_url)
    if (publicUrl.pathname !== '/' || publicUrl.search !== '' || publicUrl.hash !== '') {
      problems.push('/server/public_url: must be an origin without path, query or fragment')
    }
    loopback = isLoopback(publicUrl.hostname)
    if (publicUrl.protocol !== 'https:' && !loopback) {
      problems.push('/server/public_url: must be https unless the host is a loopback address')
    }
    server.public_url = publicUrl.origin
  }
  if (server !== undefined && Array.isArray(server.trust_proxy)) {
    server.trust_proxy.forEach((entry: unknown, i: number) => {
      if (typeof entry === 'string' && fine(`/server/trust_proxy/${i}`) && !isAddressOrCidr(entry)) {
        problems.push(`/server/trust_proxy/${i}: ${JSON.stringify(entry)} is not an IP address or CIDR range`)
      }
    })
  }

  const upstream = record(config.upstream)
  if (upstream !== undefined) checkUpstreamCredentials(upstream, '/upstream', true, fine, problems)

  const dfs = record(config.device_flow_settings)
  if (dfs !== undefined) checkDeviceFlowSettings(dfs, fine, problems)

  const store = record(config.store)
  if (store !== undefined) {
    if (typeof store.encryption_key === 'string') store.encryption_key = [store.encryption_key]
    if (store.type === 'redis' && fine('/store/type')) {
      const redis = record(store.redis)
      if (fine('/store/redis') || redis !== undefined) {
        const modes = redis === undefined ? 0 : ['url', 'sentinel', 'cluster'].filter(k => redis[k] !== undefined).length
        if (modes !== 1) problems.push('/store/redis: give exactly one of url, sentinel or cluster')
      }
      if (store.encryption_key === undefined && fine('/store/encryption_key')) problems.push('/store/encryption_key: is required when store.type is redis')
      if (server !== undefined && server.cookie_keys === undefined && fine('/server/cookie_keys')) {
        problems.push('/server/cookie_keys: is required when store.type is redis (every replica must sign the page cookie alike)')
      }
    } else if (store.type === 'memory' && store.redis !== undefined) {
      problems.push('/store/redis: is set, but store.type is memory')
    }
  }

  if (Array.isArray(config.clients)) checkClients(config.clients, dfs ?? {}, baseDir, fine, problems)

  const ui = record(config.ui)
  if (ui !== undefined) checkUi(ui, baseDir, fine, problems)

  // issue 15: the samples in README, docs/, deploy/ and config/ are public; only a demo on loopback may run on them
  if (!loopback) {
    for (const path of secretsIn(config, '', false).filter(([, v]) => isPublishedSample(v)).map(([p]) => p)) {
      problems.push(`${path}: ${SAMPLE_REFUSED}`)
    }
  }
}

/**
 * An IdP client's credentials (upstream, clients[].upstream): a client_secret for the secret
 * methods; for private_key_jwt a private key that parses, an alg that fits it, and no secret.
 * Fills in the alg and kid the key implies (private_key.ts defaultAlg, thumbprint), so the
 * effective config says what is signed with. No problem line quotes the key.
 */
function checkUpstreamCredentials (upstream: Doc, at: string, nameMethod: boolean, fine: (path: string) => boolean, problems: string[]): void {
  const method = upstream.token_endpoint_auth_method
  if (typeof method !== 'string' || !fine(`${at}/token_endpoint_auth_method`)) {
    if (upstream.client_secret === undefined && upstream.private_key === undefined && fine(`${at}/client_secret`)) problems.push(`${at}/client_secret: is required`)
    return
  }
  if (method !== PRIVATE_KEY_JWT) {
    if (upstream.client_secret === undefined && fine(`${at}/client_secret`)) problems.push(`${at}/client_secret: is required${nameMethod ? ` for ${method}` : ''}`)
    for (const key of KEY_SETTINGS) {
      if (upstream[key] !== undefined && fine(`${at}/${key}`)) problems.push(`${at}/${key}: is set, but token_endpoint_auth_method is ${method} (set it to private_key_jwt to sign in with the key)`)
    }
    return
  }
  if (upstream.client_secret !== undefined && fine(`${at}/client_secret`)) problems.push(`${at}/client_secret: is set, but token_endpoint_auth_method is private_key_jwt (which sends no secret)`)
  if (upstream.private_key === undefined) {
    if (fine(`${at}/private_key`)) problems.push(`${at}/private_key: is required for private_key_jwt`)
    return
  }
  if (!fine(`${at}/private_key`)) return
  let key: SigningKey
  try {
    key = readPrivateKey(upstream.private_key as string | Doc)
  } catch (err) {
    if (!(err instanceof KeyProblem)) throw err
    problems.push(`${at}/private_key: ${err.message}`)
    return
  }
  const alg = upstream.token_endpoint_auth_signing_alg
  if (alg === undefined) {
    upstream.token_endpoint_auth_signing_alg = defaultAlg(key)
  } else if (typeof alg === 'string' && fine(`${at}/token_endpoint_auth_signing_alg`) && !algFits(key, alg)) {
    problems.push(`${at}/token_endpoint_auth_signing_alg: ${alg} does not fit the private_key, ${describeKey(key)} (it signs with ${defaultAlg(key)}${key.type === 'rsa' ? ' or another RS/PS alg' : key.type === 'ed25519' ? ' or Ed25519' : ''})`)
  }
  upstream.private_key_kid ??= key.jwkKid ?? thumbprint(key)
  if (typeof upstream.certificate === 'string' && fine(`${at}/certificate`)) {
    try {
      readCertificate(upstream.certificate, key)
    } catch (err) {
      if (!(err instanceof KeyProblem)) throw err
      problems.push(`${at}/certificate: ${err.message}`)
    }
  }
}

function checkDeviceFlowSettings (dfs: Doc, fine: (path: string) => boolean, problems: string[]): void {
  const at = '/device_flow_settings'
  checkFlowSettings(dfs, at, undefined, fine, problems)
  const authorization = dfs.device_authorization_path
  const verification = dfs.verification_path
  if (typeof authorization === 'string' && typeof verification === 'string' && fine(`${at}/device_authorization_path`) && fine(`${at}/verification_path`) &&
      (authorization === verification || authorization === `${verification}/callback` || authorization === `${verification}/qr`)) {
    problems.push(`${at}/device_authorization_path: must differ from the verification paths`)
  }
  const uri = dfs.verification_uri
  if (typeof uri === 'string' && fine(`${at}/verification_uri`) && URL.canParse(uri)) {
    const url = new URL(uri)
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
      problems.push(`${at}/verification_uri: must be https unless the host is a loopback address`)
    } else if (url.username !== '' || url.password !== '' || url.hash !== '' || uri.includes('#')) {
      problems.push(`${at}/verification_uri: must have no user name, password or fragment (the code is added to its query)`)
    } else if (url.searchParams.has('user_code')) {
      problems.push(`${at}/verification_uri: must not have a user_code parameter (the sidecar adds the code's)`)
    } else {
      dfs.verification_uri = url.href
    }
  }
}

/**
 * The flow settings a grant is issued with (FlowSettings): the charset preset resolved to its set,
 * which must be distinct letters and digits; length × log2(set size) ≥ MIN_USER_CODE_BITS; the
 * interval shorter than the lifetime. For device_flow_settings (`inherited` undefined), or for a
 * client's overrides at `at`, checked on the values the client ends up with (its own over
 * `inherited`) and reported at the client's own key; a problem of inherited values alone is
 * device_flow_settings', reported there once.
 */
function checkFlowSettings (own: Doc, at: string, inherited: Doc | undefined, fine: (path: string) => boolean, problems: string[]): void {
  const mine = (key: string): boolean => inherited === undefined || own[key] !== undefined
  const value = (key: string): unknown => mine(key)
    ? (fine(`${at}/${key}`) ? own[key] : undefined)
    : (fine(`/device_flow_settings/${key}`) ? inherited?.[key] : undefined)
  let charset: string | undefined
  const named = value('device_flow_usercode_charset')
  if (typeof named === 'string') {
    const literal = CHARSET_PRESETS[named] ?? named
    const problem = charsetProblem(literal)
    if (problem === undefined) charset = literal
    else if (mine('device_flow_usercode_charset')) problems.push(`${at}/device_flow_usercode_charset: ${problem}`)
    if (mine('device_flow_usercode_charset')) own.device_flow_usercode_charset = literal
  }
  const length = value('device_flow_usercode_length')
  if (charset !== undefined && typeof length === 'number' && (mine('device_flow_usercode_length') || mine('device_flow_usercode_charset')) && length * Math.log2(charset.length) < MIN_USER_CODE_BITS) {
    const where = mine('device_flow_usercode_length') ? 'device_flow_usercode_length' : 'device_flow_usercode_charset'
    problems.push(`${at}/${where}: ${length} characters from a set of ${charset.length} give fewer than ${MIN_USER_CODE_BITS} bits; use a longer code or a larger set`)
  }
  const interval = value('device_flow_polling_interval_seconds')
  const lifetime = value('device_flow_codelifetime_seconds')
  if (typeof interval === 'number' && typeof lifetime === 'number' && (mine('device_flow_polling_interval_seconds') || mine('device_flow_codelifetime_seconds')) && interval >= lifetime) {
    // RFC 8628 §3.2: a device told to wait as long as its code lives could never poll it
    problems.push(mine('device_flow_polling_interval_seconds')
      ? `${at}/device_flow_polling_interval_seconds: must be shorter than device_flow_codelifetime_seconds`
      : `${at}/device_flow_codelifetime_seconds: must be longer than device_flow_polling_interval_seconds (${interval} s)`)
  }
}

/** Why a literal user-code character set is refused, or undefined. */
function charsetProblem (charset: string): string | undefined {
  if (!/^[A-Z0-9]+$/.test(charset)) return 'must be BASE20, NUMERIC, ALPHANUMERIC, or a set of upper-case letters A–Z and digits'
  if (new Set(charset).size !== charset.length) return 'must not repeat a character'
  return undefined
}

function checkClients (clients: unknown[], dfs: Doc, baseDir: string, fine: (path: string) => boolean, problems: string[]): void {
  const seen = new Set<string>()
  clients.forEach((value, i) => {
    const client = record(value)
    if (client === undefined) return
    const at = `/clients/${i}`
    const flow = record(client.device_flow_settings)
    if (flow !== undefined) checkFlowSettings(flow, `${at}/device_flow_settings`, dfs, fine, problems)
    const upstream = record(client.upstream)
    if (upstream !== undefined) checkUpstreamCredentials(upstream, `${at}/upstream`, false, fine, problems)
    if (typeof client.client_id === 'string' && fine(`${at}/client_id`)) {
      if (seen.has(client.client_id)) problems.push(`${at}/client_id: ${JSON.stringify(client.client_id)} is listed twice`)
      seen.add(client.client_id)
    }
    if (typeof client.logo_uri === 'string' && fine(`${at}/logo_uri`)) {
      if (LOGO_URL.test(client.logo_uri)) problems.push(`${at}/logo_uri: ${LOGO_URL_REFUSED}`)
      else client.logo_uri = checkImageFile(client.logo_uri, `${at}/logo_uri`, baseDir, problems)
    }
    const method = client.token_endpoint_auth_method
    if (typeof method !== 'string' || !fine(`${at}/token_endpoint_auth_method`) || !fine(`${at}/client_secret`)) return
    if (method === 'none' && client.client_secret !== undefined) {
      problems.push(`${at}/client_secret: is set, but token_endpoint_auth_method is none`)
    }
    if (method !== 'none' && client.client_secret === undefined) {
      problems.push(`${at}/client_secret: is required for ${method}`)
    }
  })
}

/** ui: logo and directories exist and are what they should be; every locale tag is BCP 47. */
function checkUi (ui: Doc, baseDir: string, fine: (path: string) => boolean, problems: string[]): void {
  if (typeof ui.frontend_url === 'string' && fine('/ui/frontend_url') && URL.canParse(ui.frontend_url)) {
    const frontend = new URL(ui.frontend_url)
    if (frontend.protocol !== 'https:' && !isLoopback(frontend.hostname)) problems.push('/ui/frontend_url: must be https unless the host is a loopback address')
    if (frontend.hash !== '' || ui.frontend_url.includes('#')) problems.push('/ui/frontend_url: must not have a fragment (user_code and result are appended to its query)')
    if (frontend.username !== '' || frontend.password !== '') problems.push('/ui/frontend_url: must not carry a user name or password')
  }
  if (typeof ui.logo_file === 'string' && fine('/ui/logo_file')) {
    if (LOGO_URL.test(ui.logo_file)) problems.push(`/ui/logo_file: ${LOGO_URL_REFUSED}`)
    else ui.logo_file = checkImageFile(ui.logo_file, '/ui/logo_file', baseDir, problems)
  }
  for (const key of ['templates_dir', 'messages_dir']) {
    const dir = ui[key]
    if (typeof dir !== 'string' || !fine(`/ui/${key}`)) continue
    const absolute = resolve(baseDir, dir)
    try {
      if (!statSync(absolute).isDirectory()) problems.push(`/ui/${key}: ${absolute} is not a directory`)
    } catch (err) {
      problems.push(`/ui/${key}: ${absolute} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
    ui[key] = absolute
  }
  if (typeof ui.default_locale === 'string' && fine('/ui/default_locale')) {
    ui.default_locale = canonicalLocale(ui.default_locale, '/ui/default_locale', problems)
  }
  const locales = ui.locales
  if (Array.isArray(locales)) {
    const first = new Map<string, number>()
    locales.forEach((tag: unknown, i: number) => {
      if (typeof tag !== 'string' || !fine(`/ui/locales/${i}`)) return
      const canonical = canonicalLocale(tag, `/ui/locales/${i}`, problems)
      const earlier = first.get(canonical)
      if (earlier !== undefined) problems.push(`/ui/locales/${i}: ${JSON.stringify(tag)} is the same locale as /ui/locales/${earlier}`)
      else first.set(canonical, i)
      locales[i] = canonical
    })
    if (typeof ui.default_locale === 'string' && fine('/ui/default_locale') && fine('/ui/locales') && !locales.includes(ui.default_locale)) {
      problems.push(`/ui/default_locale: ${JSON.stringify(ui.default_locale)} is not one of ui.locales (it is en unless set)`)
    }
  }
  const scopes = record(ui.scope_descriptions)
  if (scopes === undefined) return
  for (const [scope, value] of Object.entries(scopes)) {
    const words = record(value)
    if (words === undefined) continue
    const at = `/ui/scope_descriptions/${pointerToken(scope)}`
    const canonical: Doc = {}
    const written = new Map<string, string>()
    for (const [tag, text] of Object.entries(words)) {
      if (!fine(`${at}/${pointerToken(tag)}`)) {
        canonical[tag] = text
        continue
      }
      const key = canonicalLocale(tag, `${at}/${pointerToken(tag)}`, problems)
      const earlier = written.get(key)
      if (earlier !== undefined) problems.push(`${at}/${pointerToken(tag)}: ${JSON.stringify(tag)} is the same locale as ${JSON.stringify(earlier)}`)
      else written.set(key, tag)
      canonical[key] = text
    }
    scopes[scope] = canonical
  }
}

/** `tag` in canonical case when it is a well-formed BCP 47 tag; otherwise the problem is listed and `tag` returned. */
function canonicalLocale (tag: string, at: string, problems: string[]): string {
  try {
    const [canonical] = Intl.getCanonicalLocales(tag)
    if (canonical !== undefined) return canonical
  } catch {
    // RangeError: not a well-formed tag
  }
  problems.push(`${at}: ${JSON.stringify(tag)} is not a BCP 47 language tag (such as en, de-CH, zh-Hant)`)
  return tag
}

/** The absolute path of a logo file, its problem listed when it is not a readable PNG or SVG of at most 256 KiB. */
function checkImageFile (path: string, at: string, baseDir: string, problems: string[]): string {
  const absolute = resolve(baseDir, path)
  const image = readImageFile(absolute)
  if ('problem' in image) problems.push(`${at}: ${image.problem}`)
  return absolute
}

/** [path, value] of every string in a secret field (SECRET_KEYS), list items included. */
function secretsIn (value: unknown, path: string, secret: boolean): Array<[string, string]> {
  if (typeof value === 'string') return secret ? [[path, value]] : []
  if (Array.isArray(value)) return value.flatMap((v, i) => secretsIn(v, `${path}/${i}`, secret))
  if (isRecord(value)) return Object.entries(value).flatMap(([k, v]) => secretsIn(v, `${path}/${pointerToken(k)}`, SECRET_KEYS.has(k)))
  return []
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
