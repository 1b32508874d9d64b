// Issue 15, "Issuer on the wrong origin": in same-origin mode in front of an IdP whose issuer is
// another origin (Keycloak without --hostname or proxy headers, the most common mistake) the
// sidecar started silently and served a discovery document that issuer-checking RP libraries
// reject. It now stops: once the IdP's document arrives it logs an error naming the issuer,
// public_url and what to set at the IdP, and exits 1 — unless upstream.issuer names that issuer.
import t, { type Test } from 'tap'
import { startDemoIdp } from '../../demo/idp.js'
import { buildApp, listen } from '../../src/app.js'
import { parseConfig } from '../../src/config/load.js'
import { get } from '../helpers/http.js'
import { runSidecar, until } from '../helpers/process.js'
import { freePort, UPSTREAM_CLIENT } from '../helpers/sidecar.js'

/** The IdP on its own origin, issuer included: what a Keycloak that ignores the sidecar's X-Forwarded-* publishes. */
async function idpOnItsOwnOrigin (t: Test, url: string): Promise<string> {
  const idpPort = await freePort()
  const issuer = `http://127.0.0.1:${idpPort}`
  const idp = await startDemoIdp({ issuer, port: idpPort, sidecar: { ...UPSTREAM_CLIENT, redirect_uri: `${url}/device/callback` } })
  t.teardown(idp.close)
  return issuer
}

t.test('same-origin mode with the IdP\'s issuer on another origin: an error saying what to set, exit 1', async t => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const issuer = await idpOnItsOwnOrigin(t, url)
  const proc = runSidecar(t, `server: { host: 127.0.0.1, port: ${port}, public_url: "${url}" }
upstream: { url: "${issuer}", client_id: ${UPSTREAM_CLIENT.client_id}, client_secret: ${UPSTREAM_CLIENT.client_secret} }
clients: [{ client_id: tv-app, scopes: [openid] }]
admin: { port: 0 }
`)
  let ready = false
  await until(async () => {
    ready = (await get(`${url}/readyz`).catch(() => undefined))?.status === 200
    return ready || proc.child.exitCode !== null
  })
  t.equal(ready, false, 'never ready')
  if (ready) proc.child.kill('SIGKILL')
  t.equal(await proc.exited, 1, 'exits 1')
  const error = proc.lines.find(l => l.event === 'startup.failed')
  t.ok(error, 'an error line says why')
  t.equal(error?.level, 50)
  t.equal(error?.issuer, issuer)
  t.equal(error?.public_url, url)
  t.match(error?.msg, `the IdP's issuer ${issuer} is not on public_url's origin ${url}`)
  t.match(error?.msg, '--hostname', 'Keycloak: what to set')
  t.match(error?.msg, 'proxy = true', 'oidc-provider: what to set')
  t.match(error?.msg, 'upstream.issuer', 'and how to accept it on purpose')
})

t.test('the same IdP is accepted when upstream.issuer names its issuer, and in separate-origin mode', async t => {
  for (const upstream of [{ issuer: true, proxy: true }, { issuer: false, proxy: false }]) {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const issuer = await idpOnItsOwnOrigin(t, url)
    const config = parseConfig(JSON.stringify({
      server: { host: '127.0.0.1', port, public_url: url },
      upstream: { url: issuer, ...UPSTREAM_CLIENT, proxy: upstream.proxy, ...(upstream.issuer ? { issuer } : {}) },
      clients: [{ client_id: 'tv-app', scopes: ['openid'] }],
      admin: { enabled: false }
    }), {})
    const app = await buildApp(config)
    await listen(app, config)
    t.teardown(() => app.close())
    const meta = await get(`${url}/.well-known/openid-configuration`)
    t.equal(meta.status, 200, JSON.stringify(upstream))
    t.equal(meta.json.issuer, issuer)
    t.equal(meta.json.device_authorization_endpoint, `${url}/device_authorization`)
    t.equal((await get(`${url}/readyz`)).status, 200)
  }
})

t.test('buildApp refuses the issuer on another origin with the same reason', async t => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const issuer = await idpOnItsOwnOrigin(t, url)
  const config = parseConfig(JSON.stringify({
    server: { host: '127.0.0.1', port, public_url: url },
    upstream: { url: issuer, ...UPSTREAM_CLIENT },
    clients: [{ client_id: 'tv-app', scopes: ['openid'] }],
    admin: { enabled: false }
  }), {})
  await t.rejects(buildApp(config), { name: 'SidecarError', code: 'ERR_ISSUER_ORIGIN', message: new RegExp(`^the IdP's issuer ${issuer} is not on public_url's origin ${url}`) })
})
