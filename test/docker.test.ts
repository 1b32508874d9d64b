import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import YAML from 'yaml'

const EXAMPLE = 'config/production.example.yaml'
const MOUNT = '/etc/device-flow-sidecar/sidecar.yaml'
const VAR_ONLY = /^\$\{[A-Z][A-Z0-9_]*\}$/

const readme = readFileSync('README.md', 'utf8')
const docker = /^## Docker\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? ''
const dockerfile = readFileSync('Dockerfile', 'utf8')
const text = readFileSync(EXAMPLE, 'utf8')
/** The `${NAME}`s in the file's values (comments left aside). */
const strings = (v: unknown): string[] => typeof v === 'string' ? [v] : v !== null && typeof v === 'object' ? Object.values(v).flatMap(strings) : []
const vars = [...new Set(strings(YAML.parse(text)).flatMap(s => [...s.matchAll(/\$\{([A-Z][A-Z0-9_]*)\}/g)].map(m => m[1]!)))].sort()
/** The README's env file: NAME=VALUE lines of the `cat > sidecar.env` here-document. */
const envFile = [...(/^cat > sidecar\.env <<EOF\n([\s\S]*?)^EOF$/m.exec(docker)?.[1] ?? '').matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)]
  .map(m => ({ name: m[1]!, value: m[2]! }))
const checkConfig = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, ['dist/src/main.js', '--check-config'],
  { encoding: 'utf8', env: { PATH: process.env.PATH, SIDECAR_CONFIG: EXAMPLE, ...env } })

t.test('config/production.example.yaml: 0.0.0.0:8080, Redis, every secret by ${VAR}', async t => {
  const doc = YAML.parse(text)
  t.equal(doc.server.host, '0.0.0.0')
  t.equal(doc.server.port, 8080)
  t.equal(doc.store.type, 'redis')
  t.match(doc.store.redis.url, VAR_ONLY)
  for (const [path, value] of [
    ['upstream.client_secret', doc.upstream.client_secret],
    ['server.cookie_keys[0]', doc.server.cookie_keys[0]],
    ['store.encryption_key[0]', doc.store.encryption_key[0]],
    ['admin.token', doc.admin.token]
  ] as const) t.match(value, VAR_ONLY, `${path} is a variable, not a literal`)
  t.equal(vars.length, 8, vars.join(', '))
  t.match(docker, 'exactly the eight `${…}`', 'the README counts them right')
})

t.test('--check-config refuses it without its variables, naming every one in one pass', async t => {
  const out = checkConfig({})
  t.equal(out.status, 1)
  t.equal(out.stdout, '')
  for (const name of vars) t.match(out.stderr, `environment variable ${name} is not set`)
})

t.test('README\'s Docker section uses it as written: the env file sets exactly its variables, and --check-config accepts them', async t => {
  t.match(docker, `cp ${EXAMPLE} sidecar.yaml`)
  t.strictSame(envFile.map(e => e.name).sort(), vars, 'the env file sets every variable the file reads, and no other')
  const env: Record<string, string> = {}
  for (const { name, value } of envFile) {
    // generated ($(openssl rand …)) or read from a file ($(cat …)): a fresh random value stands in
    env[name] = value.startsWith('$(') ? randomBytes(33).toString('base64') : value
  }
  t.match(env.PUBLIC_URL, /^https:\/\//)
  const ok = checkConfig(env)
  t.equal(ok.stderr, '')
  t.equal(ok.stdout, 'ok\n')
  t.equal(ok.status, 0)

  // the port, the mount and the config path agree with the image
  const port = YAML.parse(text).server.port
  t.match(dockerfile, new RegExp(`^EXPOSE ${port}\\b`, 'm'))
  t.match(dockerfile, `http://127.0.0.1:${port}/healthz`)
  t.match(dockerfile, `SIDECAR_CONFIG=${MOUNT}`)
  const runs = [...docker.matchAll(/^docker run (?:[^\n]*\\\n)*[^\n]*/gm)].map(m => m[0])
  const sidecarRuns = runs.filter(r => / device-flow-sidecar( --check-config)?$/.test(r))
  t.equal(sidecarRuns.length, 2, 'one --check-config run, one service run')
  for (const run of sidecarRuns) {
    t.match(run, `-v "$PWD/sidecar.yaml:${MOUNT}:ro"`)
    t.match(run, '--env-file sidecar.env')
    t.match(run, '--network idp', 'on the network where it reaches the IdP and Redis by name')
  }
  t.match(sidecarRuns[1], `-p 127.0.0.1:${port}:${port}`)
  t.match(env.UPSTREAM_URL, /^http:\/\/keycloak:8080\/realms\//, 'the IdP by its name on that network, realm included')
  t.match(env.REDIS_URL, /^redis:\/\/redis:6379\//, 'Redis by its name on that network')
  t.ok(runs.some(r => /--name redis --network idp /.test(r)), 'the recipe starts that Redis')
})
