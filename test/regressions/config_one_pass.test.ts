import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { configProblems } from '../helpers/config.js'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'

// issue 15: config checking was two-pass. A file with 4 schema problems reported those 4; once they
// were fixed, 6 more appeared (https required, code entropy, redis settings, duplicate client_id),
// because the cross-field checks ran only on a schema-valid document. Now every check runs on the
// parts of the document it can read, and all problems come back at once, sorted by path.

const ISSUE_EXAMPLE = `server: { public_url: "http://login.example.com", port: 70000 }
upstream: { url: "http://keycloak:8080/realms/main", client_id: device-sidecar, client_secret: "\${UPSTREAM_SECRET}", timeout: 5 }
device_flow_settings: { device_flow_usercode_charset: NUMERIC, device_flow_usercode_length: 5, prompt: Login }
clients:
  - { client_id: tv-app }
  - { client_id: tv-app, scopes: [openid] }
store: { type: redis }
log: { level: warning }
`
/** Logo fixtures (test/ui_assets.test.ts), by absolute path: parseConfig resolves relative ones against the working directory. */
const BRAND = fileURLToPath(new URL('../fixtures/brand/', import.meta.url))
const ENV = { UPSTREAM_SECRET: 'a-secret-of-the-operator-s-own-0123456789' }

const ALL_TEN = [
  '/clients/1/client_id: "tv-app" is listed twice',
  '/device_flow_settings/device_flow_usercode_length: 5 characters from a set of 10 give fewer than 20 bits; use a longer code or a larger set',
  '/device_flow_settings/prompt: must be one of "login", "consent", "select_account", false; did you mean "login"?',
  '/log/level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"; did you mean "warn"?',
  '/server/cookie_keys: is required when store.type is redis (every replica must sign the page cookie alike)',
  '/server/port: must be <= 65535',
  '/server/public_url: must be https unless the host is a loopback address',
  '/store/encryption_key: is required when store.type is redis',
  '/store/redis: give exactly one of url, sentinel or cluster',
  '/upstream/timeout: is not a known setting; did you mean `timeout_seconds`?'
]

const problems = (text: string, env: NodeJS.ProcessEnv = ENV): readonly string[] => configProblems(text, env)

t.test('4 schema problems and 6 cross-field problems are reported together, sorted by path', async t => {
  t.strictSame(problems(ISSUE_EXAMPLE), ALL_TEN)
})

t.test('--check-config prints the same ten, one per line, and exits 1', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-one-pass-'))
  const file = join(dir, 'sidecar.yaml')
  writeFileSync(file, ISSUE_EXAMPLE)
  const child = spawn(process.execPath, [...process.execArgv, 'src/main.ts', '--check-config', '--config', file], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', d => { out += d })
  child.stderr.on('data', d => { err += d })
  const code = await new Promise(resolve => child.on('close', resolve))
  t.equal(code, 1)
  t.equal(out, '')
  t.equal(err, ['invalid configuration:', ...ALL_TEN.map(p => `  ${p}`), ''].join('\n'))
})

t.test('a cross-field check runs on what it can read, whatever else is malformed', async t => {
  const broken = `server: { public_url: "http://login.example.com", trust_proxy: "10.0.0.0/8" }
upstream: 7
device_flow_settings: { device_flow_usercode_length: "eight", device_flow_usercode_charset: ABCA }
clients: [{ client_id: tv }, "oops", { client_id: tv }]
store: { type: memory, redis: { url: "redis://r:6379" } }
`
  t.strictSame(problems(broken), [
    '/clients/1: must be object',
    '/clients/2/client_id: "tv" is listed twice',
    '/device_flow_settings/device_flow_usercode_charset: must not repeat a character',
    '/device_flow_settings/device_flow_usercode_length: must be integer',
    '/server/public_url: must be https unless the host is a loopback address',
    '/server/trust_proxy: must be array',
    '/store/redis: is set, but store.type is memory',
    '/upstream: must be object'
  ])
})

t.test('any value of the wrong shape anywhere is a listed problem, never a crash', async t => {
  const valid = {
    server: { public_url: 'https://login.example.com', cookie_keys: ['c'.repeat(40)] },
    upstream: { url: 'http://idp:8080', client_id: 'x', client_secret: 'y' },
    device_flow_settings: {},
    clients: [{ client_id: 'tv', upstream: { client_id: 'tv', client_secret: 'z' }, logo_uri: `${BRAND}client.svg`, client_uri: 'https://tv.example.com' }],
    store: { type: 'redis', encryption_key: 'k'.repeat(40), redis: { url: 'redis://r:6379', sentinel: { name: 'm', nodes: ['s:1'] } } },
    limits: {},
    admin: {},
    log: {},
    ui: { service_name: 'TV', logo_file: `${BRAND}logo.png`, accent_color: '#123', links: { privacy: 'https://example.com/p' }, templates_dir: BRAND, messages_dir: BRAND, default_locale: 'en', locales: ['en', 'de'], scope_descriptions: { tv: { en: 'Watch TV' } } }
  }
  const paths: string[][] = []
  const walk = (v: unknown, at: string[]): void => {
    paths.push(at)
    if (v !== null && typeof v === 'object') for (const [k, c] of Object.entries(v)) walk(c, [...at, k])
  }
  walk(valid, [])
  let cases = 0
  for (const at of paths.slice(1)) {
    for (const wrong of [null, 5, 'x', true, [], {}, ['x'], [{}]]) {
      const doc = structuredClone(valid) as Record<string, any>
      let parent = doc
      for (const k of at.slice(0, -1)) parent = parent[k]
      parent[at.at(-1)!] = wrong
      let thrown: unknown
      try { parseConfig(JSON.stringify(doc), {}) } catch (err) { thrown = err }
      cases++
      if (thrown !== undefined && !(thrown instanceof ConfigError)) {
        t.fail(`/${at.join('/')} = ${JSON.stringify(wrong)}: ${String(thrown)}`)
        return
      }
    }
  }
  t.ok(cases > 200, `${cases} documents, each valid or a ConfigError`)
})
