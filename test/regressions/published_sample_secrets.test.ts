import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { configProblems } from '../helpers/config.js'
import YAML from 'yaml'
import { SECRET_KEYS, loadConfig } from '../../src/config/load.js'
import { PUBLISHED_SAMPLE_SECRETS } from '../../src/config/sample_secrets.js'
import { ConfigError } from '../../src/errors.js'

// issue 15: `kubectl apply -f deploy/kubernetes/` applied secret.example.yaml too, and its
// CHANGE-ME-… values passed --check-config (they are over 32 characters): pods ran with cookie,
// encryption and admin keys anyone can read on GitHub. A secret that is one of the values shown in
// this repository, or a CHANGE-ME placeholder, is now refused unless public_url is loopback (the
// demo), with the path of the field. This file also keeps PUBLISHED_SAMPLE_SECRETS in sync with
// the samples in README.md, docs/, deploy/ and config/.

const REFUSED = 'is a published example value, known to anyone; use a secret of your own (e.g. `openssl rand -base64 33`), or a loopback public_url for a demo'

const problems = (text: string, env: NodeJS.ProcessEnv): readonly string[] => configProblems(text, env)

const everySecretField = (publicUrl: string) => `server: { public_url: "${publicUrl}", cookie_keys: ["\${OWN}", "\${SAMPLE}"] }
upstream: { url: "http://idp:8080", client_id: s, client_secret: "\${SAMPLE}" }
clients:
  - { client_id: tv, token_endpoint_auth_method: client_secret_basic, client_secret: "\${SAMPLE}", upstream: { client_id: tv, client_secret: "\${SAMPLE}" } }
  - { client_id: cli, token_endpoint_auth_method: client_secret_post, client_secret: "\${OWN}" }
store:
  type: redis
  encryption_key: ["\${SAMPLE}"]
  redis: { sentinel: { name: m, nodes: ["s:26379"], password: "\${SAMPLE}" }, password: "\${SAMPLE}" }
admin: { token: "\${SAMPLE}" }
`
const OWN = 'Vq3n7XkPz0rLw2mYb8sTj5dHc1fGa6eUo4iN'

t.test('a published sample in any secret field is refused outside loopback, by path', async t => {
  const env = { OWN, SAMPLE: 'CHANGE-ME-at-least-32-random-characters-0002' }
  const expected = [
    '/admin/token',
    '/clients/0/client_secret',
    '/clients/0/upstream/client_secret',
    '/server/cookie_keys/1',
    '/store/encryption_key/0',
    '/store/redis/password',
    '/store/redis/sentinel/password',
    '/upstream/client_secret'
  ].map(path => `${path}: ${REFUSED}`)
  t.strictSame(problems(everySecretField('https://login.example.com'), env), expected)
  t.strictSame(problems(everySecretField('http://10.0.0.5:8080'), env), [...expected.slice(0, 4), '/server/public_url: must be https unless the host is a loopback address', ...expected.slice(4)], 'a private address is not loopback')
  t.strictSame(problems(everySecretField('https://login.example.com'), { ...env, SAMPLE: OWN }), [], 'the same file with a secret of one\'s own passes')
})

t.test('on a loopback public_url (the demo) the samples are accepted', async t => {
  const env = { OWN, SAMPLE: 'CHANGE-ME-at-least-32-random-characters-0002' }
  for (const url of ['http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:8080', 'https://localhost']) {
    t.strictSame(problems(everySecretField(url), env), [], url)
  }
  t.strictSame(problems(readFileSync('config/sidecar.yaml', 'utf8'), {}), [], 'config/sidecar.yaml, the demo')
})

t.test('a CHANGE-ME placeholder is refused in any spelling, also when read from a file', async t => {
  const adminOnly = `server: { public_url: "https://login.example.com" }
upstream: { url: "http://idp:8080", client_id: s, client_secret: "${OWN}" }
clients: [{ client_id: tv }]
admin: { token: "\${SAMPLE}" }
`
  for (const sample of ['CHANGE-ME-to-your-own-value-of-32-characters', 'my-cookie-key-changeme-0123456789abcdefgh', 'change_me_please_0123456789abcdefghijkl', 'Change.Me.0123456789abcdefghijklmnopqr']) {
    t.strictSame(problems(adminOnly, { SAMPLE: sample }), [`/admin/token: ${REFUSED}`], sample)
  }
  const dir = mkdtempSync(join(tmpdir(), 'dfs-samples-'))
  writeFileSync(join(dir, 'admin-token'), 'CHANGE-ME-at-least-32-random-characters-0003\n')
  writeFileSync(join(dir, 'sidecar.yaml'), `server: { public_url: "https://login.example.com" }
upstream: { url: "http://idp:8080", client_id: s, client_secret: "${OWN}" }
clients: [{ client_id: tv }]
admin: { token: { file: admin-token } }
`)
  let thrown: unknown
  try { loadConfig(join(dir, 'sidecar.yaml'), {}) } catch (err) { thrown = err }
  t.strictSame((thrown as ConfigError).problems, [`/admin/token: ${REFUSED}`], 'a Kubernetes Secret\'s sample, mounted as a file')
})

// ---- the samples this repository shows, found where an operator would copy them from ----

function files (dir: string, keep: (name: string) => boolean): string[] {
  let entries: string[]
  try { entries = readdirSync(dir) } catch { return [] }
  return entries.flatMap(name => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path, keep) : keep(name) ? [path] : []
  })
}

const SOURCES = [
  'README.md',
  ...files('docs', n => n.endsWith('.md')),
  ...files('deploy', () => true),
  ...files('config', n => /\.ya?ml$/.test(n))
]
const PLACEHOLDER = /[\w.-]*change[-_.]?me[\w.-]*/gi
const SECRET_ASSIGNMENT = /(?<![\w/.-])(client_secret|password|cookie_keys|encryption_key|token)\b["']?\s*:\s*(["']?)([^\s"',}\]]+)\2/g
const SECRET_VARIABLE = /\b[A-Z_]*(?:SECRET|PASSWORD|TOKEN|KEY)[A-Z_]*=(["']?)([^\s"']+)\1/g

/** A value written in a secret field, not a reference to one (${VAR}, $(command), { file: PATH }, process.env.X, …). */
const literal = (v: string): boolean => v !== '' && !/^(\$\{|\$\(|\{|\[|\/|process\.|…|\.\.\.|true$|false$)/.test(v)

/** Literal values of secret fields in a parsed sidecar configuration (or anything shaped like one). */
function inSecretFields (v: unknown, out: Set<string>, secret = false): void {
  if (typeof v === 'string') { if (secret && literal(v)) out.add(v); return }
  if (Array.isArray(v)) { for (const item of v) inSecretFields(item, out, secret); return }
  if (v !== null && typeof v === 'object') for (const [k, c] of Object.entries(v)) inSecretFields(c, out, SECRET_KEYS.has(k))
}

/** Samples in a YAML file: a sidecar config, a ConfigMap holding one, a Secret, a kustomization's secretGenerator. */
function inYaml (text: string, out: Set<string>): void {
  for (const doc of YAML.parseAllDocuments(text)) {
    if (doc.errors.length > 0) continue
    const v = doc.toJS() as any
    if (v?.kind === 'Secret') {
      for (const s of Object.values(v.stringData ?? {})) out.add(String(s))
      for (const s of Object.values(v.data ?? {})) out.add(Buffer.from(String(s), 'base64').toString('utf8'))
    } else if (v?.kind === 'ConfigMap') {
      for (const s of Object.values(v.data ?? {})) inYaml(String(s), out)
    } else if (Array.isArray(v?.secretGenerator)) {
      for (const g of v.secretGenerator) for (const l of g.literals ?? []) out.add(String(l).slice(String(l).indexOf('=') + 1))
    } else {
      inSecretFields(v, out)
    }
  }
}

function inText (text: string, out: Set<string>): void {
  for (const m of text.matchAll(SECRET_ASSIGNMENT)) if (literal(m[3]!)) out.add(m[3]!)
  for (const m of text.matchAll(SECRET_VARIABLE)) if (literal(m[2]!)) out.add(m[2]!)
}

function samplesShown (): { inFields: Set<string>; placeholders: Set<string> } {
  const inFields = new Set<string>()
  const placeholders = new Set<string>()
  for (const path of SOURCES) {
    const text = readFileSync(path, 'utf8')
    for (const m of text.matchAll(PLACEHOLDER)) placeholders.add(m[0])
    if (path.endsWith('.md')) {
      for (const block of text.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)) {
        if (/^ya?ml$/.test(block[1]!)) inYaml(block[2]!, inFields)
        inText(block[2]!, inFields)
      }
    } else if (/\.ya?ml$/.test(path)) {
      inYaml(text, inFields)
    } else {
      inText(text, inFields)
    }
  }
  return { inFields, placeholders }
}

const refusedAsUpstreamSecret = (value: string, publicUrl = 'https://login.example.com') => problems(`server: { public_url: "${publicUrl}" }
upstream: { url: "http://idp:8080", client_id: s, client_secret: "\${V}" }
clients: [{ client_id: tv }]
`, { V: value })

t.test('every secret value shown in README.md, docs/, deploy/ and config/ is in PUBLISHED_SAMPLE_SECRETS', async t => {
  const { inFields, placeholders } = samplesShown()
  t.ok(SOURCES.length >= 10, `${SOURCES.length} files read`)
  t.ok(inFields.size >= 4, `found ${[...inFields].join(', ')}: the scan is real`)
  for (const value of inFields) t.ok(PUBLISHED_SAMPLE_SECRETS.includes(value), `${value} is in the list (src/config/sample_secrets.ts)`)
  for (const value of placeholders) {
    t.strictSame(refusedAsUpstreamSecret(value), [`/upstream/client_secret: ${REFUSED}`], `the placeholder ${value} is refused`)
  }
})

t.test('every value in PUBLISHED_SAMPLE_SECRETS is refused outside loopback and accepted on it', async t => {
  t.ok(PUBLISHED_SAMPLE_SECRETS.length >= 6)
  for (const value of PUBLISHED_SAMPLE_SECRETS) {
    t.strictSame(refusedAsUpstreamSecret(value), [`/upstream/client_secret: ${REFUSED}`], value)
    t.strictSame(refusedAsUpstreamSecret(value, 'http://localhost:3000'), [], `${value} on loopback`)
  }
})
