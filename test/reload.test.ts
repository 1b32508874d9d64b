import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startDemoIdp } from '../demo/idp.js'
import { builtMain } from './helpers/cli.js'
import { authorize, get, poll, post } from './helpers/http.js'
import { addEchoRoute, freePort, UPSTREAM_CLIENT, type TestSidecar } from './helpers/sidecar.js'

t.test('SIGHUP reloads clients, secrets and limits without dropping a pending grant or an in-flight request', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-reload-'))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const idp = await startDemoIdp({ issuer: url, sidecar: { ...UPSTREAM_CLIENT, redirect_uri: `${url}/device/callback` }, configure: addEchoRoute })
  t.teardown(idp.close)
  const file = join(dir, 'sidecar.yaml')
  writeFileSync(join(dir, 'cli-secret'), 'cli-secret-old\n')
  const write = (clients: string, limits: string, extra = ''): void => {
    writeFileSync(file, `server: { host: 127.0.0.1, port: ${port}, public_url: "${url}"${extra} }
upstream: { url: "${idp.url}", client_id: ${UPSTREAM_CLIENT.client_id}, client_secret: { file: upstream-secret } }
clients:
${clients}
limits: ${limits}
admin: { port: 0 }
`)
  }
  writeFileSync(join(dir, 'upstream-secret'), `${UPSTREAM_CLIENT.client_secret}\n`)
  write(`  - { client_id: tv-app, scopes: [openid] }
  - { client_id: cli, token_endpoint_auth_method: client_secret_post, client_secret: { file: cli-secret }, scopes: [openid] }`,
  '{ device_authorization_per_ip: { max: 3 } }')

  const child = spawn(process.execPath, [builtMain(), '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, any>> = []
  let partial = ''
  child.stdout!.on('data', (d: Buffer) => {
    const text = partial + d.toString()
    const parts = text.split('\n')
    partial = parts.pop()!
    for (const line of parts) if (line.startsWith('{')) lines.push(JSON.parse(line))
  })
  // generous bounds for a loaded machine: the built child is up in well under a second
  const waitFor = async (event: string, after: number): Promise<Record<string, any>> => {
    for (let i = 0; i < 400; i++) {
      const found = lines.slice(after).find(l => l.event === event)
      if (found !== undefined) return found
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    throw new Error(`no ${event} line`)
  }
  await waitFor('server.started', 0)
  t.equal((await get(`${url}/readyz`)).status, 200, 'listening and ready')
  const sc = { url } as TestSidecar

  const pending = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
  t.equal(pending.status, 200)
  t.equal((await authorize(sc, { client_id: 'new-tv' })).json.error, 'invalid_client', 'not yet registered')
  const cli = (secret: string) => authorize(sc, { client_id: 'cli', client_secret: secret, scope: 'openid' })
  t.equal((await cli('cli-secret-old')).status, 200)
  t.equal((await cli('cli-secret-old')).status, 429, 'the per-address limit of the first file (3)')

  // rewrite: a new client, a rotated secret (from its file), a looser limit; reload while a request is in flight
  writeFileSync(join(dir, 'cli-secret'), 'cli-secret-new\n')
  write(`  - { client_id: tv-app, scopes: [openid] }
  - { client_id: cli, token_endpoint_auth_method: client_secret_post, client_secret: { file: cli-secret }, scopes: [openid] }
  - { client_id: new-tv, scopes: [openid] }`,
  '{ device_authorization_per_ip: { max: 100 } }')
  const inFlight = get(`${url}/echo?delay=600`)
  await new Promise(resolve => setTimeout(resolve, 150))
  let mark = lines.length
  child.kill('SIGHUP')
  const reloaded = await waitFor('config.reloaded', mark)
  t.strictSame(reloaded.applied, ['/clients', '/limits'])
  t.strictSame(reloaded.restart_only, [])
  t.equal((await inFlight).status, 200, 'the in-flight request finished')

  t.equal((await authorize(sc, { client_id: 'new-tv' })).status, 200, 'the new client is registered')
  t.equal((await cli('cli-secret-old')).json.error, 'invalid_client', 'the old secret no longer works')
  t.equal((await cli('cli-secret-new')).status, 200, 'the rotated secret, read from its file again')
  t.equal((await poll(sc, pending.json.device_code)).json.error, 'authorization_pending', 'the pending grant survived')

  // an invalid file is refused with every problem, and the running config is kept
  writeFileSync(file, `server: { host: 127.0.0.1, port: ${port}, public_url: "ftp://x" }\nupstream: { url: "${idp.url}", client_id: x, client_secret: { file: missing } }\nclients: [{ client_id: tv-app, colour: blue }]\n`)
  mark = lines.length
  child.kill('SIGHUP')
  const refused = await waitFor('config.reload_refused', mark)
  t.equal(refused.level, 50)
  t.ok(refused.problems.length >= 2, `${refused.problems.length} problems`)
  t.ok(refused.problems.some((p: string) => p.startsWith('/upstream/client_secret/file: missing cannot be read')))
  t.ok(refused.problems.some((p: string) => p.startsWith('/clients/0')))
  t.equal((await authorize(sc, { client_id: 'new-tv' })).status, 200, 'the old config still runs')

  // settings that cannot change live are named
  write(`  - { client_id: tv-app, scopes: [openid] }`, '{}', ', body_limit_bytes: 4096')
  mark = lines.length
  child.kill('SIGHUP')
  const restart = await waitFor('config.reload_restart_needed', mark)
  t.strictSame(restart.restart_only, ['/server/body_limit_bytes'])
  t.equal((await authorize(sc, { client_id: 'new-tv' })).json.error, 'invalid_client', 'the live part still applied')
  t.equal((await post(`${url}/token`, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: pending.json.device_code, client_id: 'tv-app' })).json.error, 'slow_down', 'and the grant is still there')

  // nothing secret was logged by any of it
  const all = lines.map(l => JSON.stringify(l)).join('\n')
  for (const secret of ['cli-secret-old', 'cli-secret-new', UPSTREAM_CLIENT.client_secret]) t.notMatch(all, secret)
  child.kill('SIGTERM')
  await new Promise(resolve => child.once('exit', resolve))
})

t.test('a SIGHUP while the sidecar still waits for its IdP is applied to the app it then builds', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-reload-'))
  const [port, idpPort] = [await freePort(), await freePort()]
  const url = `http://127.0.0.1:${port}`
  const file = join(dir, 'sidecar.yaml')
  const write = (clients: string): void => {
    writeFileSync(file, `server: { host: 127.0.0.1, port: ${port}, public_url: "${url}" }\nupstream: { url: "http://127.0.0.1:${idpPort}", client_id: ${UPSTREAM_CLIENT.client_id}, client_secret: ${UPSTREAM_CLIENT.client_secret} }\nclients: ${clients}\nadmin: { port: 0 }\n`)
  }
  write('[{ client_id: tv-app }]')
  const child = spawn(process.execPath, [builtMain(), '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, any>> = []
  let partial = ''
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n')
    partial = parts.pop()!
    for (const line of parts) if (line.startsWith('{')) lines.push(JSON.parse(line))
  })
  // the built child reaches this in well under a second; the bound is for a loaded machine
  for (let i = 0; i < 1200 && !lines.some(l => l.event === 'idp.discovery_failed'); i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.equal((await get(`${url}/readyz`)).status, 503, 'the SIGHUP is sent while it waits')
  write('[{ client_id: tv-app }, { client_id: new-tv }]')
  child.kill('SIGHUP')
  for (let i = 0; i < 100 && !lines.some(l => l.event === 'config.reloaded'); i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.strictSame(lines.find(l => l.event === 'config.reloaded')?.applied, ['/clients'])
  t.equal(child.exitCode, null, 'still running')
  t.equal(child.signalCode, null, 'not ended by the signal')
  const idp = await startDemoIdp({ issuer: url, port: idpPort, sidecar: { ...UPSTREAM_CLIENT, redirect_uri: `${url}/device/callback` } })
  t.teardown(idp.close)
  let ready = 0
  for (let i = 0; i < 200 && ready !== 200; i++) {
    ready = (await get(`${url}/readyz`).catch(() => undefined))?.status ?? 0
    if (ready !== 200) await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(ready, 200, 'it started once the IdP answered')
  t.equal((await authorize({ url } as TestSidecar, { client_id: 'new-tv' })).status, 200, 'with the client the reload added')
  child.kill('SIGTERM')
  await new Promise(resolve => child.once('exit', resolve))
})

t.test('reload rotates the page cookie keys and changes the log level live', async t => {
  const { startSidecar } = await import('./helpers/sidecar.js')
  const { Browser } = await import('./helpers/browser.js')
  const sc = await startSidecar()
  t.teardown(sc.close)
  const oldKey = sc.config.server.cookie_keys![0]!
  const newKey = 'rotated-cookie-key-0123456789abcdefghij'
  const withConfig = (change: (c: any) => void) => { const next = structuredClone(sc.config) as any; change(next); return next }

  const da = await authorize(sc)
  const browser = new Browser()
  const enter = await browser.get(`${sc.url}/device`)
  // rotate: the new key signs, the old one still verifies the page already open
  const plan = sc.app.reload(withConfig(c => { c.server.cookie_keys = [newKey, oldKey]; c.log.level = 'warn' }))
  t.strictSame(plan.applied, ['/log/level', '/server/cookie_keys'])
  const confirm = await browser.submit(enter, { user_code: da.json.user_code })
  t.equal(confirm.status, 200, 'a page signed with the old key still works')

  // drop the old key: pages signed with the new one work, with the old one are refused
  const newBrowser = new Browser()
  const newEnter = await newBrowser.get(`${sc.url}/device`)
  sc.app.reload(withConfig(c => { c.server.cookie_keys = [newKey]; c.log.level = 'warn' }))
  t.equal((await newBrowser.submit(newEnter, { user_code: da.json.user_code })).status, 200, 'signed with the new key: accepted')
  const oldOnly = new Browser()
  const oldPage = await oldOnly.get(`${sc.url}/device`)
  sc.app.reload(withConfig(c => { c.server.cookie_keys = [oldKey]; c.log.level = 'warn' }))
  t.equal((await oldOnly.submit(oldPage, { user_code: da.json.user_code })).status, 403, 'a key no longer configured does not verify')

  // log.level warn: info audit lines stop
  const before = sc.logs.length
  t.equal((await authorize(sc)).status, 200)
  t.notOk(sc.logs.slice(before).some(l => l.includes('device_authorization.issued')), 'no info line at warn')
})
