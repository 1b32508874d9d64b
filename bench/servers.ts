/**
 * The servers the benchmark measures, one kind per process (bench/run.ts starts a fresh one per
 * run, pinned to one core):
 *   fastify  — A: a bare fastify 5 route answering a fixed 400 (the framework's ceiling)
 *   node     — F: bare node:http answering the same 400 (the runtime's limit)
 *   sidecar  — B, D, E: the built sidecar from a YAML file, exactly as `device-flow-sidecar
 *              --config` runs it; --seed N first stores N pending grants through the same
 *              issueGrant the endpoint uses, and writes their device codes to --codes
 *   peer     — C: oidc-provider 9 with its own device flow; writes pending device codes to --codes
 *   idp      — the upstream IdP the sidecar's discovery needs (idle while measuring)
 */
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'
// each kind imports only what it runs, so a server's RSS is its own (no oidc-provider in the sidecar)

const SEED_BATCH = 500
const PENDING = '{"error":"authorization_pending","error_description":"the user has not yet completed the authorization"}'

const { positionals: [kind], values } = parseArgs({
  allowPositionals: true,
  options: { port: { type: 'string' }, config: { type: 'string' }, seed: { type: 'string' }, codes: { type: 'string' }, issuer: { type: 'string' }, count: { type: 'string' } }
})
const port = Number(values.port ?? 0)

switch (kind) {
  case 'fastify': {
    const { default: Fastify } = await import('fastify')
    const app = Fastify()
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => { done(null, body) })
    app.post('/token', async (_req, reply) => reply.code(400).header('cache-control', 'no-store').type('application/json').send(PENDING))
    await app.listen({ host: '127.0.0.1', port })
    break
  }
  case 'node': {
    const server = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(PENDING) })
        res.end(PENDING)
      })
    })
    server.listen(port, '127.0.0.1')
    break
  }
  case 'sidecar': {
    const [{ systemClock }, { loadConfig }, { issueGrant }, { createStore }, { closeOnSignal, serve }] = await Promise.all([
      import('../src/clock.js'), import('../src/config/load.js'), import('../src/device/issue.js'), import('../src/device/store_factory.js'), import('../src/main.js')
    ])
    const config = loadConfig(values.config!)
    const store = await createStore(config, systemClock)
    const seed = Number(values.seed ?? 0)
    const codes: string[] = []
    const client = config.clients[0]!
    // in batches: on Redis, the grants of a batch go out auto-pipelined instead of one round trip each
    // (100 000 one at a time took over 40 s with Redis on the sidecar's core)
    for (let i = 0; i < seed; i += SEED_BATCH) {
      const batch = Array.from({ length: Math.min(SEED_BATCH, seed - i) }, () =>
        issueGrant(store, config.device_flow_settings, { client_id: client.client_id, scopes: [...client.scopes], device_ip: '127.0.0.1', device_user_agent: 'bench/1.0' }, systemClock.now()))
      for (const issued of await Promise.all(batch)) codes.push(issued!.deviceCode)
    }
    if (values.codes !== undefined) writeFileSync(values.codes, codes.join('\n'))
    const app = await serve(config, { store })
    // SIGTERM exits cleanly (so --cpu-prof is written); the store was given to the app, so it is closed here
    if (app !== undefined) void closeOnSignal(app).then(() => store.close())
    break
  }
  case 'peer': {
    const { default: Provider } = await import('oidc-provider')
    const issuer = `http://127.0.0.1:${port}`
    const provider = new Provider(issuer, {
      clients: [{ client_id: 'bench-device', token_endpoint_auth_method: 'none', grant_types: ['urn:ietf:params:oauth:grant-type:device_code'], response_types: [], redirect_uris: [] }],
      features: { deviceFlow: { enabled: true }, devInteractions: { enabled: false } },
      cookies: { keys: ['bench-peer-cookie-key'] }
    })
    const server = createServer(provider.callback())
    await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
    const codes: string[] = []
    for (let i = 0; i < Number(values.count ?? 100); i++) {
      const res = await fetch(`${issuer}/device/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_id=bench-device&scope=openid' })
      codes.push((await res.json() as { device_code: string }).device_code)
    }
    writeFileSync(values.codes!, codes.join('\n'))
    break
  }
  case 'idp': {
    const { startDemoIdp } = await import('../demo/idp.js')
    await startDemoIdp({ issuer: values.issuer!, port, sidecar: { client_id: 'device-sidecar', client_secret: 'bench-secret', redirect_uri: `${values.issuer!}/device/callback` } })
    break
  }
  default:
    throw new Error(`unknown server kind ${String(kind)}`)
}
// the sidecar closes itself on SIGTERM; the others exit, so that a --cpu-prof of any kind is written
if (kind !== 'sidecar') process.once('SIGTERM', () => process.exit(0))
process.stdout.write('ready\n')
