// Issue 15, "Listens at once": with its IdP unreachable (or answering 404, as a Keycloak URL
// without its realm does) the sidecar waited without listening, logging the same line every 2 s
// forever and never the URL it fetched, so /healthz was refused and an orchestrator restarted it
// in a loop. It now listens as soon as its config is valid: /healthz 200, /readyz 503 naming the
// discovery URL and what came back, the device endpoints 503 temporarily_unavailable and the
// pages a 503 page, each change of what came back logged once; then ready without a restart.
import { createServer } from 'node:http'
import t from 'tap'
import { startDemoIdp } from '../../demo/idp.js'
import { approveOnPhone, Browser } from '../helpers/browser.js'
import { authorize, get, poll, post } from '../helpers/http.js'
import { runSidecar, until } from '../helpers/process.js'
import { freePort, UPSTREAM_CLIENT, type TestSidecar } from '../helpers/sidecar.js'

t.test('listens before the IdP answers, says why it is not ready, and becomes ready without a restart', async t => {
  const [port, idpPort] = [await freePort(), await freePort()]
  const url = `http://127.0.0.1:${port}`
  const discoveryUrl = `http://127.0.0.1:${idpPort}/.well-known/openid-configuration`
  const sc = { url } as TestSidecar

  // first the IdP's port answers 404 to everything (an upstream.url without the realm's path)
  let asked = 0
  const wrong = createServer((_req, res) => { asked++; res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found') })
  await new Promise<void>(resolve => wrong.listen(idpPort, '127.0.0.1', resolve))
  t.teardown(() => { wrong.closeAllConnections(); wrong.close() })

  const proc = runSidecar(t, `server: { host: 127.0.0.1, port: ${port}, public_url: "${url}" }
upstream: { url: "http://127.0.0.1:${idpPort}", client_id: ${UPSTREAM_CLIENT.client_id}, client_secret: ${UPSTREAM_CLIENT.client_secret} }
clients: [{ client_id: tv-app, scopes: [openid] }]
admin: { port: 0 }
`)
  // a child compiling the sources under a loaded suite can take many seconds to get this far;
  // today's sidecar says it is waiting (on stderr) without ever listening
  let health: number | undefined
  await until(async () => {
    health = (await get(`${url}/healthz`).catch(() => undefined))?.status
    return health !== undefined || proc.stderr().includes('waiting for the IdP') || proc.child.exitCode !== null
  })
  t.equal(health, 200, '/healthz answers while the IdP does not')

  const notReady = await get(`${url}/readyz`)
  t.equal(notReady.status, 503)
  t.equal(notReady.headers['cache-control'], 'no-store')
  t.equal(notReady.json?.status, 'not ready')
  t.match(notReady.json?.reason, discoveryUrl, 'the reason names the URL fetched')
  t.match(notReady.json?.reason, 'HTTP 404', 'and what came back')

  const da = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
  t.equal(da.status, 503)
  t.equal(da.headers['cache-control'], 'no-store')
  t.equal(da.json?.error, 'temporarily_unavailable')
  t.type(da.json?.error_description, 'string')
  const polled = await post(`${url}/token`, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'x', client_id: 'tv-app' })
  t.equal(polled.status, 503)
  t.equal(polled.json?.error, 'temporarily_unavailable')
  const page = await get(`${url}/device`)
  t.equal(page.status, 503)
  t.match(page.headers['content-type'], 'text/html')
  t.match(page.text, 'Temporarily unavailable')
  t.equal(page.headers['x-frame-options'], 'DENY')
  const reference = /Reference: ([\w-]+)/.exec(page.text)?.[1]
  t.type(reference, 'string', 'the page shows a reference')
  t.ok(await until(() => proc.lines.some(l => l.msg === 'error page' && l.reqId === reference && l.status === 503), 100), 'the page\'s reference finds its log line')

  // several attempts at the same 404: one line for it
  t.ok(await until(() => asked >= 2, 200), `asked the 404 port twice (${asked})`)
  // then the port closes: a new reason, logged once more
  wrong.closeAllConnections()
  await new Promise(resolve => wrong.close(resolve))
  t.ok(await until(async () => ((await get(`${url}/readyz`)).json?.reason ?? '').includes('ECONNREFUSED'), 300), 'the reason follows what came back: the connection is refused')

  const idp = await startDemoIdp({ issuer: url, port: idpPort, sidecar: { ...UPSTREAM_CLIENT, redirect_uri: `${url}/device/callback` } })
  t.teardown(idp.close)
  t.ok(await until(async () => (await get(`${url}/readyz`)).status === 200, 400), 'ready once the IdP answers, without a restart')

  const failures = proc.lines.filter(l => l.event === 'idp.discovery_failed')
  t.ok(failures.length >= 2, `${failures.length} lines for the failed attempts`)
  t.ok(failures.length < asked + 2, 'not one line per attempt')
  t.ok(failures.every((l, i) => i === 0 || l.reason !== failures[i - 1]!.reason), 'a line only when the reason changes')
  t.match(failures[0]!.reason, `${discoveryUrl} answered HTTP 404`)
  t.ok(failures.some(l => /ECONNREFUSED/.test(l.reason)), 'the connection error is named by its code')
  t.ok(failures.every(l => l.url === discoveryUrl && l.level === 40))
  t.ok(await until(() => proc.lines.some(l => l.event === 'server.started'), 100), 'a line says it is ready')

  // a whole device login
  const started = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
  t.equal(started.status, 200)
  const { final } = await approveOnPhone(new Browser(), started.json.verification_uri_complete)
  t.match(final.html, 'Device connected')
  const tokens = await poll(sc, started.json.device_code)
  t.equal(tokens.status, 200)
  t.equal(tokens.json.token_type, 'Bearer')
  t.type(tokens.json.id_token, 'string')

  proc.child.kill('SIGTERM')
  t.equal(await proc.exited, 0)
})

t.test('SIGTERM while it waits for the IdP closes the listener and exits 0', async t => {
  const [port, idpPort] = [await freePort(), await freePort()]
  const url = `http://127.0.0.1:${port}`
  const proc = runSidecar(t, `server: { host: 127.0.0.1, port: ${port}, public_url: "${url}" }
upstream: { url: "http://127.0.0.1:${idpPort}", client_id: ${UPSTREAM_CLIENT.client_id}, client_secret: ${UPSTREAM_CLIENT.client_secret} }
clients: [{ client_id: tv-app, scopes: [openid] }]
admin: { port: 0 }
`)
  t.ok(await until(() => proc.lines.some(l => l.event === 'idp.discovery_failed') || proc.child.exitCode !== null), 'waiting')
  t.equal((await get(`${url}/readyz`)).status, 503)
  proc.child.kill('SIGTERM')
  t.equal(await proc.exited, 0)
  t.ok(proc.lines.some(l => l.msg === 'draining in-flight requests' && l.signal === 'SIGTERM'))
  t.equal(await get(`${url}/healthz`).then(() => 'answered', (err: { code?: string }) => err.code), 'ECONNREFUSED', 'the port is closed')
})
