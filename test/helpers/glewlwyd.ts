/**
 * A second real IdP for the suite: glewlwyd (a C SSO server, Debian's package), started as its own
 * process with a config, a SQLite database and a signing key written to a temp dir. Its OpenID
 * Connect plugin instance is named `oidc`, so its issuer has a path: `{external_url}/api/oidc`.
 *
 * Set-up, all through glewlwyd's own means:
 * - the database from the package's SQL (/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3,
 *   run by the sqlite3 CLI glewlwyd depends on); it holds the `admin`/`password` administrator;
 * - the web app (login.html and its assets) copied from /usr/share/glewlwyd/webapp: glewlwyd
 *   serves no symlink, and the package's config.json is a symlink to a directory;
 * - through the admin API (a cookie session of `admin`): the `oidc` plugin (RS256 key made here,
 *   code flow and refresh on, PKCE S256 required, plain refused), a user, and the confidential
 *   clients (client_secret_basic, the sidecar's callback as redirect URI).
 * Pinned by test/idps/glewlwyd.test.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './sidecar.js'

export const GLEWLWYD = process.env.GLEWLWYD_PATH ?? '/usr/bin/glewlwyd'
const INIT_SQL = '/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3'
const WEBAPP = '/usr/share/glewlwyd/webapp'
const MODULES = '/usr/lib/glewlwyd'
/** The password the package's SQL gives its `admin` user. */
const ADMIN = { username: 'admin', password: 'password' }
/** The plugin instance's name: glewlwyd serves it under {external_url}/api/{name}. */
export const GLEWLWYD_PLUGIN = 'oidc'
/** The person who signs in at glewlwyd in the tests. */
export const GLEWLWYD_USER = { username: 'dana', password: 'dana-password-7Kp', name: 'Dana Glew', email: 'dana@example.test' }
/** Bounded waits: start-up polls (100 ms apart) and each admin call. */
const START_POLLS = 100
const CALL_TIMEOUT_MS = 5_000

export interface GlewlwydClient {
  client_id: string
  client_secret: string
}

export interface GlewlwydOptions {
  /** The origin browsers use for glewlwyd (its external_url): the sidecar's public_url in same-origin mode. Default: its own URL. */
  publicUrl?: string
  /** The redirect URI registered for every client: the sidecar's {public_url}/device/callback. */
  redirectUri: string
  /** Confidential clients to register (client_secret_basic). */
  clients: GlewlwydClient[]
  /** false: glewlwyd's own default, PKCE off (a request with a code_challenge is refused). Default true: S256 required. */
  pkce?: boolean
}

export interface TestGlewlwyd {
  /** Where glewlwyd listens (http://127.0.0.1:port): the sidecar's internal URL for it. */
  url: string
  /** {publicUrl}/api/oidc: a path issuer. */
  issuer: string
  /** Everything glewlwyd wrote to its console, for a failing test's diagnosis. */
  readonly output: string
  stop(): Promise<void>
}

/** Why glewlwyd tests cannot run here, or undefined. Under CI=true a missing glewlwyd is an error. */
export function glewlwydMissing (): string | undefined {
  const sqlite = spawnSync('sqlite3', ['-version'], { stdio: 'ignore' })
  if (existsSync(GLEWLWYD) && existsSync(INIT_SQL) && existsSync(WEBAPP) && sqlite.error === undefined && sqlite.status === 0) return undefined
  const reason = `glewlwyd is not installed (apt-get install glewlwyd; needs ${GLEWLWYD}, ${INIT_SQL}, ${WEBAPP} and sqlite3)`
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`)
  return reason
}

/** A real glewlwyd on a free 127.0.0.1 port, set up with the `oidc` plugin, GLEWLWYD_USER and `clients`. */
export async function startGlewlwyd (options: GlewlwydOptions): Promise<TestGlewlwyd> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const external = (options.publicUrl ?? url).replace(/\/+$/, '')
  const issuer = `${external}/api/${GLEWLWYD_PLUGIN}`
  const dir = mkdtempSync(join(tmpdir(), 'dfs-glewlwyd-'))
  const db = join(dir, 'glewlwyd.db')
  const made = spawnSync('sqlite3', [db], { input: readFileSync(INIT_SQL), encoding: 'utf8' })
  if (made.status !== 0) throw new Error(`sqlite3 could not initialise the database: ${made.stderr}`)
  const webapp = join(dir, 'webapp')
  cpSync(WEBAPP, webapp, { recursive: true, dereference: true, filter: src => src !== join(WEBAPP, 'config.json') })
  writeFileSync(join(webapp, 'config.json'), JSON.stringify(webappConfig()))
  const conf = join(dir, 'glewlwyd.conf')
  writeFileSync(conf, configFile({ port, external, db, webapp }))

  let output = ''
  const child: ChildProcess = spawn(GLEWLWYD, ['--config-file', conf], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout!.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { output += d.toString() })
  // a test process that dies without its teardown leaves no glewlwyd behind
  const orphaned = (): void => { child.kill('SIGKILL') }
  process.once('exit', orphaned)
  const stop = async (): Promise<void> => {
    process.removeListener('exit', orphaned)
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>(resolve => {
        const force = setTimeout(() => child.kill('SIGKILL'), 5_000)
        child.once('exit', () => { clearTimeout(force); resolve() })
        child.kill('SIGTERM')
      })
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitUntilAnswering(`${url}/config.json`, child, () => output)
    const admin = new AdminSession(url)
    await admin.login()
    await admin.call('POST', '/api/mod/plugin/', pluginInstance(issuer, options.pkce ?? true))
    await admin.call('POST', '/api/user/', { ...GLEWLWYD_USER, scope: ['openid'], enabled: true })
    for (const c of options.clients) {
      await admin.call('POST', '/api/client/', {
        client_id: c.client_id,
        client_secret: c.client_secret,
        name: c.client_id,
        confidential: true,
        redirect_uri: [options.redirectUri],
        authorization_type: ['code', 'refresh_token'],
        token_endpoint_auth_method: ['client_secret_basic'],
        scope: [],
        enabled: true
      })
    }
    await waitUntilAnswering(`${url}/api/${GLEWLWYD_PLUGIN}/.well-known/openid-configuration`, child, () => output)
  } catch (err) {
    await stop()
    throw new Error(`glewlwyd did not start: ${(err as Error).message}\n${output.slice(-2000)}`, { cause: err })
  }
  return { url, issuer, get output () { return output }, stop }
}

function configFile (o: { port: number; external: string; db: string; webapp: string }): string {
  const mime: Array<[string, string]> = [['.html', 'text/html'], ['.css', 'text/css'], ['.js', 'application/javascript'], ['.json', 'application/json'], ['.png', 'image/png'], ['.ico', 'image/x-icon'], ['.woff', 'font/woff'], ['.woff2', 'font/woff2'], ['.ttf', 'font/ttf'], ['.otf', 'font/otf'], ['.eot', 'application/vnd.ms-fontobject'], ['.svg', 'image/svg+xml']]
  return `# written by test/helpers/glewlwyd.ts (libconfig syntax)
port=${o.port}
bind_address="127.0.0.1"
external_url="${o.external}"
login_url="login.html"
api_prefix="api"
static_files_path="${o.webapp}/"
allow_origin="${o.external}"
log_mode="console"
log_level="WARNING"
cookie_secure=0
cookie_same_site="lax"
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=false
login_api_enabled=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="${MODULES}/user"
client_module_path="${MODULES}/client"
user_auth_scheme_module_path="${MODULES}/scheme"
plugin_module_path="${MODULES}/plugin"
hash_algorithm="SHA512"
database = { type = "sqlite3"; path = "${o.db}"; };
static_files_mime_types = (
${mime.map(([extension, type]) => `  { extension = "${extension}"; mime_type = "${type}"; }`).join(',\n')}
);
`
}

/** The web app's config.json: the API next to the pages, English only, the package's defaults otherwise. */
function webappConfig (): Record<string, unknown> {
  return { GlewlwydUrl: './', ProfileUrl: 'profile.html', AdminUrl: 'index.html', LoginUrl: 'login.html', CallbackPage: 'callback.html', PasswordMinLength: 8, lang: ['en'] }
}

/** The OpenID Connect plugin: RS256 with a key made now, the code flow with refresh, PKCE S256 required (or off, glewlwyd's default). */
function pluginInstance (issuer: string, pkce: boolean): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'glewlwyd-test', alg: 'RS256', use: 'sig' }
  return {
    module: 'oidc',
    name: GLEWLWYD_PLUGIN,
    display_name: 'OpenID Connect',
    enabled: true,
    parameters: {
      iss: issuer,
      'jwks-private': JSON.stringify({ keys: [jwk] }),
      'default-kid': 'glewlwyd-test',
      'access-token-duration': 3600,
      'refresh-token-duration': 1_209_600,
      'code-duration': 600,
      'refresh-token-rolling': false,
      'allow-non-oidc': false,
      'auth-type-code-enabled': true,
      'auth-type-refresh-enabled': true,
      'auth-type-token-enabled': false,
      'auth-type-none-enabled': false,
      'auth-type-password-enabled': false,
      'auth-type-client-enabled': false,
      'auth-type-device-enabled': false,
      // glewlwyd's default is PKCE off, and then an approval with a code_challenge fails
      'pkce-allowed': pkce,
      'pkce-method-plain-allowed': false,
      'pkce-required': pkce,
      scope: []
    }
  }
}

/** Polls `url` until it answers 200, the process still alive; bounded by START_POLLS. */
async function waitUntilAnswering (url: string, child: ChildProcess, output: () => string): Promise<void> {
  for (let i = 0; i < START_POLLS; i++) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`glewlwyd exited (${child.exitCode ?? child.signalCode}): ${output().slice(-1000)}`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      await res.arrayBuffer()
      if (res.status === 200) return
    } catch { /* not listening yet */ }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`${url} did not answer 200 within ${START_POLLS / 10} s`)
}

/** glewlwyd's admin API with the administrator's session cookie. */
class AdminSession {
  readonly #url: string
  #cookie = ''
  constructor (url: string) { this.#url = url }

  async login (): Promise<void> {
    const res = await fetch(`${this.#url}/api/auth/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN), signal: AbortSignal.timeout(CALL_TIMEOUT_MS) })
    await res.arrayBuffer()
    const cookie = res.headers.getSetCookie().find(c => c.startsWith('GLEWLWYD2_SESSION_ID='))
    if (res.status !== 200 || cookie === undefined) throw new Error(`admin login answered ${res.status}`)
    this.#cookie = cookie.split(';')[0]!
  }

  async call (method: 'POST' | 'PUT', path: string, body?: unknown): Promise<void> {
    const res = await fetch(`${this.#url}${path}`, {
      method,
      headers: { cookie: this.#cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS)
    })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`${method} ${path} answered ${res.status}: ${text}`)
  }
}
