import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startDemoIdp } from '../demo/idp.js'
import { builtMain } from './helpers/cli.js'
import { approveOnPhone, Browser } from './helpers/browser.js'
import { authorize, get, poll, post } from './helpers/http.js'
import { redisMissing, startRedis } from './helpers/redis.js'
import { addEchoRoute, freePort, UPSTREAM_CLIENT } from './helpers/sidecar.js'

const skip = redisMissing()

/** A round-robin balancer in front of the replicas that routes around a dead one, as an ingress would. */
function balancer (ports: number[], log: Array<{ path: string; port: number }>) {
  let next = 0
  let lastDevicePost: number | undefined
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      let order = [ports[next % ports.length]!, ports[(next + 1) % ports.length]!]
      next++
      // a login that started on one replica comes back to the other
      if (req.url?.startsWith('/device/callback') === true && lastDevicePost !== undefined) order = ports.filter(p => p !== lastDevicePost).concat(lastDevicePost)
      const attempt = (i: number): void => {
        const port = order[i]!
        const up = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, upRes => {
          if (req.method === 'POST' && req.url === '/device') lastDevicePost = port
          log.push({ path: req.url ?? '', port })
          res.writeHead(upRes.statusCode ?? 502, upRes.headers)
          upRes.pipe(res)
        })
        up.on('error', () => { if (i + 1 < order.length) attempt(i + 1); else { res.writeHead(502); res.end() } })
        up.end(body)
      }
      attempt(0)
    })
  })
}

async function waitFor (check: () => Promise<boolean>, ms: number): Promise<number> {
  const start = Date.now()
  while (Date.now() - start < ms) {
    if (await check().catch(() => false)) return Date.now() - start
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`not within ${ms} ms`)
}

t.test('two replicas on one Redis behind a balancer', { skip: skip ?? false }, async t => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const [lbPort, portA, portB] = [await freePort(), await freePort(), await freePort()]
  const url = `http://127.0.0.1:${lbPort}`
  const idp = await startDemoIdp({
    issuer: url,
    sidecar: { ...UPSTREAM_CLIENT, redirect_uri: `${url}/device/callback` },
    extraClients: [{ client_id: 'tv-app', client_secret: 'tv-upstream-secret-3', redirect_uris: [`${url}/device/callback`], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }],
    configure: addEchoRoute
  })
  t.teardown(idp.close)
  const log: Array<{ path: string; port: number }> = []
  const lb = balancer([portA, portB], log)
  await new Promise<void>(resolve => lb.listen(lbPort, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { lb.closeAllConnections(); lb.close(() => resolve()) }))

  const dir = mkdtempSync(join(tmpdir(), 'dfs-replicas-'))
  const replicas = new Map<number, ChildProcess>()
  const startReplica = async (port: number): Promise<void> => {
    const file = join(dir, `replica-${port}.yaml`)
    writeFileSync(file, `server: { host: 127.0.0.1, port: ${port}, public_url: "${url}", cookie_keys: ["\${COOKIE_KEY}"] }
upstream: { url: "${idp.url}", client_id: ${UPSTREAM_CLIENT.client_id}, client_secret: "${UPSTREAM_CLIENT.client_secret}", timeout_seconds: 2 }
device_flow_settings: { device_flow_polling_interval_seconds: 1 }
clients:
  - { client_id: tv-app, client_name: Living Room TV, scopes: [openid, offline_access], upstream: { client_id: tv-app, client_secret: tv-upstream-secret-3 } }
store: { type: redis, encryption_key: "\${STORE_KEY}", redis: { url: "${redis.url}", command_timeout_ms: 500 } }
limits: { user_code_attempts: { max: 3, window_seconds: 600 } }
admin: { port: 0 }
log: { level: warn }
`)
    const child = spawn(process.execPath, [builtMain(), '--config', file], {
      env: { ...process.env, COOKIE_KEY: 'a-cookie-key-every-replica-shares-0123', STORE_KEY: 'a-store-key-every-replica-shares-0123456' },
      stdio: ['ignore', 'ignore', 'inherit']
    })
    replicas.set(port, child)
    await waitFor(async () => (await get(`http://127.0.0.1:${port}/readyz`)).status === 200, 20_000)
  }
  t.teardown(() => { for (const child of replicas.values()) child.kill('SIGKILL') })
  await Promise.all([startReplica(portA), startReplica(portB)])
  const at = (port: number) => ({ url: `http://127.0.0.1:${port}` }) as Parameters<typeof poll>[0]
  const lbSc = { url } as Parameters<typeof poll>[0]

  t.test('a flow crosses replicas: device on one, browser alternating, polls on both, a replica killed before the last poll', async t => {
    const { json: da } = await authorize(lbSc, { client_id: 'tv-app', scope: 'openid offline_access' })
    t.equal((await poll(at(portA), da.device_code)).json.error, 'authorization_pending')
    const fast = await poll(at(portB), da.device_code)
    t.equal(fast.json.error, 'slow_down', 'the interval is shared: B saw A\'s poll')
    t.equal(fast.json.interval, 6)

    const { final } = await approveOnPhone(new Browser(), da.verification_uri_complete)
    t.match(final.html, 'Device connected')
    const approve = log.filter(l => l.path === '/device').at(-1)!
    const callback = log.find(l => l.path.startsWith('/device/callback'))!
    t.not(approve.port, callback.port, 'the login started on one replica and returned to the other')

    replicas.get(portA)!.kill('SIGKILL')
    await new Promise(resolve => setTimeout(resolve, 6_100))
    const tokens = await poll(at(portB), da.device_code)
    t.equal(tokens.status, 200, 'the surviving replica hands the tokens over')
    t.type(tokens.json.refresh_token, 'string')
    await startReplica(portA)
    const refresh = (port: number, token: string) => post(`http://127.0.0.1:${port}/token`, { grant_type: 'refresh_token', refresh_token: token, client_id: 'tv-app' })
    const refreshed = await refresh(portA, tokens.json.refresh_token)
    t.equal(refreshed.status, 200, 'the restarted replica refreshes the family the other one started')
    t.not(refreshed.json.refresh_token, tokens.json.refresh_token)
    const invalid = { error: 'invalid_grant', error_description: 'the refresh token is invalid or was not issued to this client' }
    t.strictSame((await refresh(portB, tokens.json.refresh_token)).json, invalid, 'a duplicate on the other replica, moments later, is refused')
    const second = await refresh(portB, refreshed.json.refresh_token)
    t.equal(second.status, 200, 'without ending the family')
    t.strictSame((await refresh(portA, tokens.json.refresh_token)).json, invalid, 'an older handle replayed')
    t.equal((await refresh(portB, second.json.refresh_token)).status, 400, 'ended the family on both replicas')
  })

  t.test('wrong user codes count across replicas', async t => {
    const browser = new Browser('198.51.100.20')
    const enter = await browser.get(`${url}/device`)
    browser.stopBefore = next => next === `${url}/device` // only the POSTs, which the balancer alternates
    for (let i = 0; i < 2; i++) t.equal((await browser.submit(enter, { user_code: 'BCDF-GHJK' })).status, 303, 'a wrong code: back to the enter page')
    const third = await browser.submit(enter, { user_code: 'BCDF-GHJK' })
    t.equal(third.status, 429)
    t.ok(new Set(log.slice(-3).map(l => l.port)).size === 2, 'the three tries went to both replicas')
  })

  t.test('Redis down: clear 503s within 2 s, not ready, still running; Redis back: service resumes, pending grant kept', async t => {
    const { json: pending } = await authorize(lbSc, { client_id: 'tv-app', scope: 'openid' })
    await redis.stop()
    const started = Date.now()
    const polled = await poll(at(portB), pending.device_code)
    t.ok(Date.now() - started < 2_000, `answered in ${Date.now() - started} ms`)
    t.equal(polled.status, 503)
    t.strictSame(polled.json, { error: 'temporarily_unavailable', error_description: 'the grant store is not answering' })
    const authz = await authorize(at(portA), { client_id: 'tv-app' })
    t.equal(authz.status, 503)
    t.equal(authz.json.error, 'temporarily_unavailable')
    const person = new Browser()
    const page = await person.get(pending.verification_uri_complete)
    t.equal(page.status, 200, 'the code entry form needs no store')
    const lookup = await person.submit(page)
    t.equal(lookup.status, 503)
    t.match(lookup.html, 'Temporarily unavailable')
    const ready = await get(`http://127.0.0.1:${portA}/readyz`)
    t.equal(ready.status, 503)
    t.equal(ready.json.status, 'not ready')
    t.equal((await get(`http://127.0.0.1:${portA}/healthz`)).status, 200, 'alive')

    await redis.restart()
    const took = await waitFor(async () => (await get(`http://127.0.0.1:${portA}/readyz`)).status === 200 && (await get(`http://127.0.0.1:${portB}/readyz`)).status === 200, 10_000)
    t.ok(took < 10_000, `ready again ${took} ms after Redis came back`)
    t.equal((await poll(at(portA), pending.device_code)).json.error, 'authorization_pending', 'the pending grant survived')
    t.ok(replicas.get(portA)!.exitCode === null && replicas.get(portB)!.exitCode === null, 'no replica exited')
  })
})
