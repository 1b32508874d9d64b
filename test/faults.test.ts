import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startDemoIdp } from '../demo/idp.js'
import { builtMain } from './helpers/cli.js'
import { approveOnPhone, Browser } from './helpers/browser.js'
import { authorize, get, poll, post } from './helpers/http.js'
import { addEchoRoute, freePort, startSidecar, UPSTREAM_CLIENT, type SlowProvider } from './helpers/sidecar.js'

t.test('the IdP going down mid-flow loses no pending grant', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const idpPort = Number(new URL(sc.idp.url).port)
  const { json: da } = await authorize(sc, { client_id: 'cli', client_secret: 'cli-secret-2', scope: 'openid' })

  // the person signs in; the IdP dies before the sidecar exchanges the code
  const browser = new Browser()
  browser.stopBefore = url => url.includes('/device/callback')
  const { final: redirect } = await approveOnPhone(browser, da.verification_uri_complete)
  t.equal(redirect.status, 303)
  const callback = redirect.url
  t.match(callback, /\/device\/callback\?code=/)
  await sc.idp.close()

  const page = await browser.get(callback)
  t.equal(page.status, 502)
  t.match(page.html, 'Your device is still waiting')
  t.notMatch(page.html, /Error:|at .+:\d+/)

  // the device keeps polling and hears authorization_pending, not an error
  const pending = await poll(sc, da.device_code, 'cli', {})
  t.equal(pending.json?.error, 'invalid_client', 'cli authenticates by post')
  const polled = await (await import('./helpers/http.js')).post(`${sc.url}/token`, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: da.device_code, client_id: 'cli', client_secret: 'cli-secret-2' })
  t.equal(polled.status, 400)
  t.equal(polled.json.error, 'authorization_pending')

  // proxied paths and metadata say so clearly
  const jwks = await get(`${sc.url}/jwks`)
  t.equal(jwks.status, 502)
  t.strictSame(jwks.json, { error: 'temporarily_unavailable', error_description: 'the identity provider cannot be reached' })
  const html = await get(`${sc.url}/jwks`, { accept: 'text/html' })
  t.equal(html.status, 502)
  t.match(html.text, 'Sign-in service unavailable')
  t.match(html.headers['content-security-policy'], /^default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'/, 'the proxy\'s error page carries the pages\' headers')
  t.equal(html.headers['referrer-policy'], 'no-referrer')
  t.equal((await get(`${sc.url}/.well-known/openid-configuration`)).status, 200, 'metadata is served from the last good document')

  // the IdP comes back (fresh memory: the code is gone); the person enters the code again and it works
  const idp = await startDemoIdp({ issuer: sc.url, port: idpPort, sidecar: { ...UPSTREAM_CLIENT, redirect_uri: `${sc.url}/device/callback` }, configure: addEchoRoute })
  t.teardown(idp.close)
  const again = await approveOnPhone(new Browser(), da.verification_uri_complete)
  t.match(again.final.html, 'Device connected')
  sc.clock.advance(10_000)
  const tokens = await (await import('./helpers/http.js')).post(`${sc.url}/token`, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: da.device_code, client_id: 'cli', client_secret: 'cli-secret-2' })
  t.equal(tokens.status, 200)
  t.type(tokens.json.id_token, 'string')
})

t.test('an IdP slower than upstream.timeout_seconds at the code exchange gets a 504 page and keeps the grant', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const { json: da } = await authorize(sc, { client_id: 'cli', client_secret: 'cli-secret-2', scope: 'openid' })
  const browser = new Browser()
  browser.stopBefore = url => url.includes('/device/callback')
  const { final: redirect } = await approveOnPhone(browser, da.verification_uri_complete)
  ;(sc.idp.provider as SlowProvider).tokenDelayMs = 3_000 // the sidecar waits 2 s
  const started = Date.now()
  const page = await browser.get(redirect.url)
  t.ok(Date.now() - started < 2_900, `answered after ${Date.now() - started} ms, not after the IdP`)
  t.equal(page.status, 504)
  t.match(page.html, 'Your device is still waiting')
  ;(sc.idp.provider as SlowProvider).tokenDelayMs = 0
  const polled = await post(`${sc.url}/token`, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: da.device_code, client_id: 'cli', client_secret: 'cli-secret-2' })
  t.equal(polled.json.error, 'authorization_pending', 'the grant is still pending')
  const again = await approveOnPhone(new Browser(), da.verification_uri_complete)
  t.match(again.final.html, 'Device connected', 'and can be approved once the IdP answers in time')
})

t.test('the command line', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-'))
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => spawn(process.execPath, [builtMain(), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const collect = (child: ReturnType<typeof run>) => new Promise<{ code: number | null; out: string; err: string }>(resolve => {
    let out = ''
    let err = ''
    child.stdout!.on('data', d => { out += d })
    child.stderr!.on('data', d => { err += d })
    child.on('close', code => resolve({ code, out, err }))
  })

  t.test('--check-config prints ok and exits 0 for a good file, read from SIDECAR_CONFIG too', async t => {
    const ok = await collect(run(['--check-config', '--config', 'config/sidecar.yaml']))
    t.equal(ok.code, 0)
    t.equal(ok.out, 'ok\n')
    const byEnv = await collect(run(['--check-config'], { SIDECAR_CONFIG: 'config/sidecar.yaml' }))
    t.equal(byEnv.code, 0)
  })

  t.test('--check-config lists every problem, schema and cross-field, sorted by path, and exits 1', async t => {
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, 'server: { public_url: "http://idp.example.com" }\nupstream: { url: "http://idp:8080", client_id: x, client_secret: "${NOPE_SECRET}" }\ndevice_flow_settings: { device_flow_usercode_length: "eight", colour: blue }\nclients: []\n')
    const bad = await collect(run(['--check-config', '--config', file], { NOPE_SECRET: undefined }))
    t.equal(bad.code, 1)
    t.equal(bad.err, [
      'invalid configuration:',
      '  /clients: must NOT have fewer than 1 items',
      '  /device_flow_settings/colour: is not a known setting',
      '  /device_flow_settings/device_flow_usercode_length: must be integer',
      '  /server/public_url: must be https unless the host is a loopback address',
      '  /upstream/client_secret: environment variable NOPE_SECRET is not set',
      ''
    ].join('\n'))
  })

  t.test('SIGTERM drains an in-flight request and exits 0', async t => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const idp = await startDemoIdp({ issuer: url, sidecar: { ...UPSTREAM_CLIENT, redirect_uri: `${url}/device/callback` }, configure: addEchoRoute })
    t.teardown(idp.close)
    const file = join(dir, 'ok.yaml')
    writeFileSync(file, `server: { host: 127.0.0.1, port: ${port}, public_url: "${url}" }\nadmin: { port: 0 }\nupstream: { url: "${idp.url}", client_id: ${UPSTREAM_CLIENT.client_id}, client_secret: "\${SECRET}" }\nclients: [{ client_id: tv }]\n`)
    const child = run(['--config', file], { SECRET: UPSTREAM_CLIENT.client_secret })
    const done = collect(child)
    for (let i = 0; i < 100; i++) {
      const ready = await get(`${url}/readyz`).catch(() => undefined)
      if (ready?.status === 200) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const slow = get(`${url}/echo?delay=800`)
    await new Promise(resolve => setTimeout(resolve, 200))
    child.kill('SIGTERM')
    const res = await slow
    t.equal(res.status, 200, 'the in-flight request finished')
    const { code, out } = await done
    t.equal(code, 0)
    t.match(out, 'draining in-flight requests')
  })
})
