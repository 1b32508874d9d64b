import t from 'tap'
import { configProblems } from './helpers/config.js'
import { parseConfig } from '../src/config/load.js'

const minimal = (extra = '') => `server: { public_url: "https://idp.example.com" }
upstream: { url: "http://keycloak:8080/realms/main", client_id: device-sidecar, client_secret: "\${UPSTREAM_SECRET}" }
clients: [{ client_id: tv-app }]
${extra}`
const env = { UPSTREAM_SECRET: 's3cr:et\nwith: yaml' }

const problems = (text: string, e: NodeJS.ProcessEnv = env): readonly string[] => configProblems(text, e)

t.test('fills every default and substitutes ${VAR} inside parsed strings only', async t => {
  const c = parseConfig(minimal(), env)
  t.equal(c.upstream.client_secret, 's3cr:et\nwith: yaml', 'a secret with YAML syntax stays one string')
  t.equal(c.server.port, 8080)
  t.equal(c.server.host, '0.0.0.0')
  t.equal(c.upstream.proxy, true)
  t.equal(c.upstream.token_endpoint_auth_method, 'client_secret_basic')
  t.strictSame(c.device_flow_settings, {
    device_flow_polling_interval_seconds: 5,
    device_flow_codelifetime_seconds: 600,
    device_flow_usercode_length: 8,
    device_flow_usercode_charset: 'BCDFGHJKLMNPQRSTVWXZ',
    enforce_clientauth_device_authorize: false,
    prompt: 'login',
    device_authorization_path: '/device_authorization',
    verification_path: '/device',
    refresh_binding_ttl_seconds: 2592000
  })
  t.strictSame(c.clients[0], { client_id: 'tv-app', enabled: true, token_endpoint_auth_method: 'none', grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], scopes: ['openid'] })
  t.equal(c.store.type, 'memory')
  t.ok(Object.isFrozen(c.clients[0]), 'deep-frozen')
})

t.test('accepts the charset presets and literal sets', async t => {
  t.equal(parseConfig(minimal('device_flow_settings: { device_flow_usercode_charset: NUMERIC, device_flow_usercode_length: 9 }'), env).device_flow_settings.device_flow_usercode_charset, '0123456789')
  t.equal(parseConfig(minimal('device_flow_settings: { device_flow_usercode_charset: ALPHANUMERIC }'), env).device_flow_settings.device_flow_usercode_charset, '23456789ABCDEFGHJKLMNPQRSTUVWXYZ')
  t.equal(parseConfig(minimal('device_flow_settings: { device_flow_usercode_charset: ABCDEF }'), env).device_flow_settings.device_flow_usercode_charset, 'ABCDEF')
})

t.test('refuses bad charsets: repeated characters, too few bits, lower case', async t => {
  t.strictSame(problems(minimal('device_flow_settings: { device_flow_usercode_charset: ABCA }')), ['/device_flow_settings/device_flow_usercode_charset: must not repeat a character'])
  t.strictSame(problems(minimal('device_flow_settings: { device_flow_usercode_charset: NUMERIC, device_flow_usercode_length: 5 }')), ['/device_flow_settings/device_flow_usercode_length: 5 characters from a set of 10 give fewer than 20 bits; use a longer code or a larger set'])
  t.strictSame(problems(minimal('device_flow_settings: { device_flow_usercode_charset: abcdef }')), ['/device_flow_settings/device_flow_usercode_charset: must be BASE20, NUMERIC, ALPHANUMERIC, or a set of upper-case letters A–Z and digits'])
})

t.test('lists every problem at once, schema and cross-field, sorted by JSON pointer', async t => {
  const text = `server: { public_url: "not a url", port: 70000, extra: 1 }
upstream: { url: "http://idp", client_id: "", token_endpoint_auth_method: client_secret_jwt }
device_flow_settings: { device_flow_usercode_length: "eight", device_flow_polling_interval_seconds: 0 }
clients: [{ client_id: tv, grant_types: [password], scopes: ["bad scope"] }]
store: { type: dynamo }
surprise: true
`
  t.matchSnapshot(problems(text, {}))
})

t.test('cross-field problems: https, secrets, duplicates, paths', async t => {
  const text = `server: { public_url: "http://idp.example.com/base" }
upstream: { url: "http://idp", client_id: s }
device_flow_settings: { device_authorization_path: /device }
clients:
  - { client_id: tv }
  - { client_id: tv, client_secret: x }
  - { client_id: box, token_endpoint_auth_method: client_secret_post }
  - { client_id: up, upstream: { client_id: up } }
`
  t.strictSame(problems(text, {}), [
    '/clients/1/client_id: "tv" is listed twice',
    '/clients/1/client_secret: is set, but token_endpoint_auth_method is none',
    '/clients/2/client_secret: is required for client_secret_post',
    '/clients/3/upstream/client_secret: is required',
    '/device_flow_settings/device_authorization_path: must differ from the verification paths',
    '/server/public_url: must be an origin without path, query or fragment',
    '/server/public_url: must be https unless the host is a loopback address',
    '/upstream/client_secret: is required for client_secret_basic'
  ], 'sorted by path')
})

t.test('prompt and max_age_seconds: login by default, none refused with the reason, max_age without openid in the client\'s scopes', async t => {
  t.equal(parseConfig(minimal('device_flow_settings: { prompt: false }'), env).device_flow_settings.prompt, false)
  t.equal(parseConfig(minimal('clients: [{ client_id: tv, prompt: select_account, max_age_seconds: 0 }]').replace('clients: [{ client_id: tv-app }]\n', ''), env).clients[0]!.prompt, 'select_account')
  const refusal = 'is refused: prompt=none lets an IdP session approve without the person (use login, consent, select_account, or false)'
  t.strictSame(problems(minimal('device_flow_settings: { prompt: none, max_age_seconds: -1 }')), [
    '/device_flow_settings/max_age_seconds: must be >= 0',
    `/device_flow_settings/prompt: "none" ${refusal}`
  ])
  t.strictSame(problems(minimal('clients: [{ client_id: tv, prompt: none }]').replace('clients: [{ client_id: tv-app }]\n', '')), [`/clients/0/prompt: "none" ${refusal}`])
  // issue 14: every approval asks the IdP for openid, so the ID token's auth_time is there to check
  // whatever the client may ask for (test/regressions/upstream_openid.test.ts)
  t.strictSame(problems(minimal('device_flow_settings: { max_age_seconds: 300 }\nclients: [{ client_id: a, scopes: [tv] }, { client_id: b, scopes: [openid] }, { client_id: c, scopes: [tv], max_age_seconds: 0 }]').replace('clients: [{ client_id: tv-app }]\n', '')), [])
})

t.test('allows http for loopback public URLs only', async t => {
  for (const url of ['http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:8080']) {
    t.equal(parseConfig(minimal().replace('https://idp.example.com', url), env).server.public_url, new URL(url).origin)
  }
})

t.test('reports YAML syntax errors and duplicate keys', async t => {
  t.match(problems('server: {\n'), [/^YAML: /])
  t.match(problems('server: {}\nserver: {}\n'), [/^YAML: .*[Mm]ap keys must be unique/])
  t.strictSame(problems(''), ['/: must be a mapping (the YAML file is empty or not an object)'])
})

t.test('store.type redis needs one connection mode, an encryption key and shared cookie keys', async t => {
  const base = (store: string, server = '') => `server: { public_url: "https://idp.example.com"${server} }
upstream: { url: "http://idp", client_id: s, client_secret: x }
clients: [{ client_id: tv }]
store: ${store}
`
  t.strictSame(problems(base('{ type: redis }')), [
    '/server/cookie_keys: is required when store.type is redis (every replica must sign the page cookie alike)',
    '/store/encryption_key: is required when store.type is redis',
    '/store/redis: give exactly one of url, sentinel or cluster'
  ])
  t.strictSame(problems(base('{ type: redis, encryption_key: "k-123456789012345678901234567890123", redis: { url: "redis://r:6379", cluster: { nodes: ["a:1"] } } }', ', cookie_keys: ["c-123456789012345678901234567890123"]')), ['/store/redis: give exactly one of url, sentinel or cluster'])
  t.strictSame(problems(base('{ type: memory, redis: { url: "redis://r:6379" } }')), ['/store/redis: is set, but store.type is memory'])
  const c = parseConfig(base('{ type: redis, encryption_key: "${KEY}", redis: { sentinel: { name: mymaster, nodes: ["s1:26379", "s2:26379"] }, password: "${KEY}" } }', ', cookie_keys: ["c-123456789012345678901234567890123"]'), { KEY: 'k'.repeat(40) })
  t.strictSame(c.store.encryption_key, ['k'.repeat(40)], 'one key becomes a list of one')
  t.equal(c.store.redis?.key_prefix, 'dfs:')
  t.equal(c.store.redis?.command_timeout_ms, 1000)
  t.match(problems(base('{ type: redis, encryption_key: short, redis: { cluster: { nodes: ["no-port"] } } }', ', cookie_keys: ["c-123456789012345678901234567890123"]')), ['/store/encryption_key: must be a string of at least 32 characters, or a list of them', /\/store\/redis\/cluster\/nodes\/0: must match pattern/])
})

t.test('secrets from files: { file: PATH } in every secret field, trailing newline trimmed, relative to the config file', async t => {
  const { mkdtempSync, writeFileSync, chmodSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const { loadConfig } = await import('../src/config/load.js')
  const dir = mkdtempSync(join(tmpdir(), 'dfs-secrets-'))
  const put = (name: string, value: string): string => { writeFileSync(join(dir, name), value); return join(dir, name) }
  put('upstream', 'upstream-from-file\n')
  put('client', 'client-secret-from-file\r\n')
  put('cookie', `${'c'.repeat(40)}\n`)
  put('store', `${'s'.repeat(40)}\n`)
  put('redis', 'redis-password\n')
  put('admin', `${'a'.repeat(40)}\n`)
  put('multi', 'line one\nline two\n')
  const file = put('sidecar.yaml', `server: { public_url: "https://idp.example.com", cookie_keys: [{ file: cookie }, "${'d'.repeat(32)}"] }
upstream: { url: "http://idp:8080", client_id: x, client_secret: { file: upstream } }
clients:
  - { client_id: tv, token_endpoint_auth_method: client_secret_post, client_secret: { file: "\${SECRETS}/client" }, upstream: { client_id: tv, client_secret: { file: multi } } }
store: { type: redis, encryption_key: [{ file: store }], redis: { url: "redis://r:6379", password: { file: redis } } }
admin: { token: { file: ${join(dir, 'admin')} } }
`)
  const c = loadConfig(file, { SECRETS: dir })
  t.equal(c.upstream.client_secret, 'upstream-from-file', 'relative to the config file, newline trimmed')
  t.equal(c.clients[0]!.client_secret, 'client-secret-from-file', '${VAR} in the path; CRLF trimmed')
  t.equal(c.clients[0]!.upstream!.client_secret, 'line one\nline two', 'only the one trailing newline goes')
  t.strictSame(c.server.cookie_keys, ['c'.repeat(40), 'd'.repeat(32)], 'list items mix files and literals')
  t.strictSame(c.store.encryption_key, ['s'.repeat(40)])
  t.equal(c.store.redis!.password, 'redis-password')
  t.equal(c.admin.token, 'a'.repeat(40), 'an absolute path')

  const missing = problems(`server: { public_url: "https://idp.example.com" }
upstream: { url: "http://idp:8080", client_id: x, client_secret: { file: /nonexistent/secret } }
clients: [{ client_id: tv }]
admin: { token: { file: "" } }
device_flow_settings: { device_flow_usercode_length: { file: /etc/hostname } }
`)
  t.strictSame(missing, [
    '/admin/token/file: must be a file path',
    '/device_flow_settings/device_flow_usercode_length: must be integer',
    '/upstream/client_secret/file: /nonexistent/secret cannot be read (ENOENT)'
  ], 'each named by its path; a { file } outside a secret field is a schema error')
  if (process.getuid?.() !== 0) {
    chmodSync(join(dir, 'redis'), 0o000)
    t.match(problems(`server: { public_url: "https://idp.example.com" }\nupstream: { url: "http://idp:8080", client_id: x, client_secret: { file: ${join(dir, 'redis')} } }\nclients: [{ client_id: tv }]\n`), [/EACCES/])
  }
})

t.test('trust_proxy entries must be addresses or CIDR ranges', async t => {
  t.strictSame(problems(minimal('').replace('public_url: "https://idp.example.com"', 'public_url: "https://idp.example.com", trust_proxy: ["10.0.0.0/8", "192.0.2.1", "fd00::/8", "loopback", "10.0.0.0/33", "1.2.3/24"]')), [
    '/server/trust_proxy/3: "loopback" is not an IP address or CIDR range',
    '/server/trust_proxy/4: "10.0.0.0/33" is not an IP address or CIDR range',
    '/server/trust_proxy/5: "1.2.3/24" is not an IP address or CIDR range'
  ])
})

// issue 16, Brand: the ui block and the RFC 7591 client fields
t.test('ui: defaults, paths relative to the config file made absolute, locale tags in canonical case', async t => {
  const { mkdtempSync, mkdirSync, copyFileSync, writeFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const { loadConfig } = await import('../src/config/load.js')
  t.strictSame(parseConfig(minimal(), env).ui, { links: {}, default_locale: 'en', scope_descriptions: {} }, 'the defaults')
  const dir = mkdtempSync(join(tmpdir(), 'dfs-ui-'))
  mkdirSync(join(dir, 'brand', 'templates'), { recursive: true })
  mkdirSync(join(dir, 'brand', 'messages'))
  copyFileSync(new URL('./fixtures/brand/logo.png', import.meta.url), join(dir, 'brand', 'logo.png'))
  copyFileSync(new URL('./fixtures/brand/client.svg', import.meta.url), join(dir, 'tv.svg'))
  const file = join(dir, 'sidecar.yaml')
  writeFileSync(file, `server: { public_url: "https://idp.example.com" }
upstream: { url: "http://idp:8080", client_id: x, client_secret: y }
clients:
  - { client_id: tv, logo_uri: ./tv.svg, client_uri: "https://tv.example.com/", policy_uri: "https://tv.example.com/privacy", tos_uri: "http://tv.example.com/tos" }
  - { client_id: cli, logo_uri: "\${BRAND}/logo.png" }
ui:
  service_name: Example TV+
  logo_file: brand/logo.png
  accent_color: "#0A7"
  links: { privacy: "https://example.com/privacy", terms: "https://example.com/terms", support: "https://example.com/help" }
  templates_dir: brand/templates
  messages_dir: ${join(dir, 'brand', 'messages')}
  default_locale: pt-br
  locales: [EN, pt-BR, zh-hant-tw, ar]
  scope_descriptions:
    "recordings:delete": { en: Delete your recordings, DE-ch: Ihre Aufnahmen löschen }
`)
  const c = loadConfig(file, { BRAND: 'brand' })
  t.strictSame(c.ui, {
    service_name: 'Example TV+',
    logo_file: join(dir, 'brand', 'logo.png'),
    accent_color: '#0A7',
    links: { privacy: 'https://example.com/privacy', terms: 'https://example.com/terms', support: 'https://example.com/help' },
    templates_dir: join(dir, 'brand', 'templates'),
    messages_dir: join(dir, 'brand', 'messages'),
    default_locale: 'pt-BR',
    locales: ['en', 'pt-BR', 'zh-Hant-TW', 'ar'],
    scope_descriptions: { 'recordings:delete': { en: 'Delete your recordings', 'de-CH': 'Ihre Aufnahmen löschen' } }
  })
  t.equal(c.clients[0]!.logo_uri, join(dir, 'tv.svg'), 'relative to the config file, not the working directory')
  t.equal(c.clients[1]!.logo_uri, join(dir, 'brand', 'logo.png'), '${VAR} in the path')
  t.strictSame([c.clients[0]!.client_uri, c.clients[0]!.policy_uri, c.clients[0]!.tos_uri], ['https://tv.example.com/', 'https://tv.example.com/privacy', 'http://tv.example.com/tos'])
  t.equal(c.clients[1]!.client_uri, undefined)
})

t.test('ui and client brand: every problem named by its path, all in one error', async t => {
  const { fileURLToPath } = await import('node:url')
  const fixtures = fileURLToPath(new URL('./fixtures/brand/', import.meta.url))
  const text = `server: { public_url: "https://idp.example.com" }
upstream: { url: "http://idp", client_id: s, client_secret: x }
clients:
  - { client_id: a, logo_uri: "https://cdn.example.com/a.png", client_uri: "ftp://a.example.com", policy_uri: "javascript:alert(1)", tos_uri: /tos }
  - { client_id: b, logo_uri: "${fixtures}missing.png" }
  - { client_id: c, logo_uri: "${fixtures}" }
  - { client_id: d, logo_uri: "${fixtures}client.svg" }
ui:
  service_name: "${'x'.repeat(81)}"
  logo_file: "http://example.com/logo.svg"
  accent_color: "#12345"
  links: { privacy: "example.com/privacy", help: "https://example.com/help" }
  templates_dir: "${fixtures}logo.png"
  messages_dir: "${fixtures}no-such-dir"
  default_locale: fr
  locales: [en, en_GB, DE, de]
  scope_descriptions:
    "bad scope": { en: Bad }
    tv: { en: Watch TV, de/CH: Fernsehen, fr: "", EN: Watch }
    empty: {}
  colour: red
`
  t.strictSame(problems(text, {}), [
    '/clients/0/client_uri: must match pattern "^https?://"',
    '/clients/0/logo_uri: is a URL: the verification pages load nothing from elsewhere (Content-Security-Policy img-src \'self\'), so the sidecar serves the logo itself; give the path of the PNG or SVG file',
    '/clients/0/policy_uri: must match pattern "^https?://"',
    '/clients/0/tos_uri: must match pattern "^https?://"',
    '/clients/0/tos_uri: must match format "uri"',
    `/clients/1/logo_uri: ${fixtures}missing.png cannot be read (ENOENT)`,
    `/clients/2/logo_uri: ${fixtures.replace(/\/$/, '')} cannot be read (EISDIR)`,
    '/ui/accent_color: must match pattern "^#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$"',
    '/ui/colour: is not a known setting',
    '/ui/default_locale: "fr" is not one of ui.locales (it is en unless set)',
    '/ui/links/help: is not a known setting',
    '/ui/links/privacy: must match pattern "^https?://"',
    '/ui/links/privacy: must match format "uri"',
    '/ui/locales/1: "en_GB" is not a BCP 47 language tag (such as en, de-CH, zh-Hant)',
    '/ui/locales/3: "de" is the same locale as /ui/locales/2',
    '/ui/logo_file: is a URL: the verification pages load nothing from elsewhere (Content-Security-Policy img-src \'self\'), so the sidecar serves the logo itself; give the path of the PNG or SVG file',
    `/ui/messages_dir: ${fixtures}no-such-dir cannot be read (ENOENT)`,
    '/ui/scope_descriptions/bad scope: "bad scope" is not a scope name (RFC 6749 §3.3: printable ASCII without spaces, double quotes or backslashes)',
    '/ui/scope_descriptions/empty: must NOT have fewer than 1 properties',
    '/ui/scope_descriptions/tv/EN: "EN" is the same locale as "en"',
    '/ui/scope_descriptions/tv/de~1CH: "de/CH" is not a BCP 47 language tag (such as en, de-CH, zh-Hant)',
    '/ui/scope_descriptions/tv/fr: must NOT have fewer than 1 characters',
    '/ui/service_name: must NOT have more than 80 characters',
    `/ui/templates_dir: ${fixtures}logo.png is not a directory`
  ])
})

t.test('ui: a logo is a PNG (by its signature) or an SVG (by its first element) of at most 256 KiB', async t => {
  const { mkdtempSync, writeFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'dfs-logo-'))
  const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  const files: Record<string, string | Buffer> = {
    'max.png': Buffer.concat([PNG, Buffer.alloc(256 * 1024 - PNG.length)]),
    'over.png': Buffer.concat([PNG, Buffer.alloc(256 * 1024 - PNG.length + 1)]),
    'plain.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
    'prologue.svg': '\ufeff<?xml version="1.0"?>\n<!-- a <svg> in a comment -->\n<!DOCTYPE svg [ <!ENTITY x "y"> ]>\n\n<svg\nviewBox="0 0 1 1"></svg>',
    'html.svg': '<html><body><svg></svg></body></html>',
    'svgish.svg': '<svgfoo></svgfoo>',
    'stylesheet.svg': '<?xml-stylesheet href="https://example.com/x.css"?><svg></svg>',
    'text.png': 'not an image',
    'jpeg.png': Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46]),
    'empty.svg': ''
  }
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body)
  const withLogos = (names: string[]): string => minimal(`ui: { logo_file: ${names[0]} }`).replace('clients: [{ client_id: tv-app }]', `clients: [${names.slice(1).map((n, i) => `{ client_id: c${i}, logo_uri: ${n} }`).join(', ')}]`)
  t.strictSame(configProblems(withLogos(['max.png', 'plain.svg', 'prologue.svg']), env, dir), [], 'exactly 256 KiB, and an SVG after a BOM, XML declaration, comment and doctype')
  t.strictSame(configProblems(withLogos(['over.png', 'html.svg', 'svgish.svg', 'stylesheet.svg', 'text.png', 'jpeg.png', 'empty.svg']), env, dir), [
    `/clients/0/logo_uri: ${join(dir, 'html.svg')} is neither a PNG nor an SVG file`,
    `/clients/1/logo_uri: ${join(dir, 'svgish.svg')} is neither a PNG nor an SVG file`,
    `/clients/2/logo_uri: ${join(dir, 'stylesheet.svg')} is neither a PNG nor an SVG file`,
    `/clients/3/logo_uri: ${join(dir, 'text.png')} is neither a PNG nor an SVG file`,
    `/clients/4/logo_uri: ${join(dir, 'jpeg.png')} is neither a PNG nor an SVG file`,
    `/clients/5/logo_uri: ${join(dir, 'empty.svg')} is neither a PNG nor an SVG file`,
    `/ui/logo_file: ${join(dir, 'over.png')} is 262145 bytes; a logo may have at most 262144 (256 KiB)`
  ])
})
