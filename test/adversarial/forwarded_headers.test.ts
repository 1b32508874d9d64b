/**
 * Issue 13, finding 7: the headers that describe the client (X-Forwarded-*, Forwarded, X-Real-IP)
 * reach the IdP only as the sidecar wrote them. X-Forwarded-Host/Proto come from public_url, never
 * from the client's Host; X-Forwarded-For is the peer, after the chain of a trusted proxy.
 */
import type { IncomingHttpHeaders } from 'node:http'
import t from 'tap'
import { basic } from '../helpers/http.js'
import { jsonOf, rawRequest } from '../helpers/raw_http.js'
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js'

/** What a hostile client (or a careless ingress) claims about itself. */
const CLAIMS = [
  'X-Forwarded-Host: evil.example',
  'X-Forwarded-Proto: https',
  'X-Forwarded-Port: 6666',
  'X-Forwarded-Prefix: /evil',
  'X-Forwarded-Server: evil.example',
  'X-Forwarded-Ssl: on',
  'Forwarded: for=198.51.100.66;host=evil.example;proto=https',
  'X-Real-IP: 198.51.100.66'
]

/** The client-describing fields the IdP received. */
function describing (headers: IncomingHttpHeaders): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.startsWith('x-forwarded-') || k === 'forwarded' || k === 'x-real-ip'))
}

/** Every request the IdP's server receives (headers as it got them). */
function watchIdp (sc: TestSidecar): Array<{ url: string; headers: IncomingHttpHeaders }> {
  const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = []
  sc.idp.server.prependListener('request', req => { seen.push({ url: req.url ?? '', headers: { ...req.headers } }) })
  return seen
}

const FORM = 'grant_type=client_credentials&scope=api'

t.test('from a client outside trust_proxy', async t => {
  const sc = await startSidecar({ config: { server: { trust_proxy: [] } } })
  t.teardown(sc.close)
  const publicHost = new URL(sc.url).host
  const idpHost = new URL(sc.idp.url).host
  const sidecarWritten = { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': publicHost }

  t.test('a proxied request reaches the IdP with X-Forwarded-Host/Proto from public_url, the peer as X-Forwarded-For, and none of the client\'s claims', async t => {
    const res = await rawRequest(sc.url, ['POST /echo/x?y=1 HTTP/1.1', 'Host: evil.example', 'X-Forwarded-For: 198.51.100.66', ...CLAIMS, 'Content-Type: text/plain', 'Content-Length: 5', 'Connection: close'].join('\r\n'), ['hello'])
    t.equal(res.status, 200)
    const echo = jsonOf(res)
    t.strictSame(describing(echo.headers), sidecarWritten)
    t.equal(echo.headers.host, idpHost, 'Host is the IdP\'s internal one')
    t.equal(echo.body, 'hello')
    t.equal(echo.url, '/echo/x?y=1')
  })

  t.test('the IdP builds its forms on the public origin, whatever Host the client sent', async t => {
    const res = await rawRequest(sc.url, ['GET /session/end HTTP/1.1', 'Host: evil.example', ...CLAIMS, 'Accept: text/html', 'Connection: close'].join('\r\n'))
    t.equal(res.status, 200)
    const html = res.body.toString('utf8')
    t.match(html, `action="${sc.url}/session/end/confirm"`)
    t.notMatch(html, 'evil')
  })

  t.test('the token pass-through sends the same', async t => {
    const seen = watchIdp(sc)
    const res = await rawRequest(sc.url, ['POST /token HTTP/1.1', 'Host: evil.example', 'X-Forwarded-For: 198.51.100.66', ...CLAIMS, `Authorization: ${basic('web-app', 'web-secret-Xy7')}`, 'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${FORM.length}`, 'Connection: close'].join('\r\n'), [FORM])
    t.equal(res.status, 200)
    t.type(jsonOf(res).access_token, 'string')
    const token = seen.filter(r => r.url === '/token')
    t.equal(token.length, 1)
    t.strictSame(describing(token[0]!.headers), sidecarWritten)
    t.equal(token[0]!.headers.host, idpHost)
  })
})

t.test('from a trusted proxy', async t => {
  // default trust_proxy: loopback, where the test's requests come from
  const sc = await startSidecar()
  t.teardown(sc.close)
  const publicHost = new URL(sc.url).host
  const sidecarWritten = { 'x-forwarded-for': '203.0.113.5, 127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': publicHost }

  t.test('a proxied request keeps the X-Forwarded-For chain; Host and Proto still come from public_url; the rest is dropped', async t => {
    const res = await rawRequest(sc.url, ['GET /echo HTTP/1.1', 'Host: evil.example', 'X-Forwarded-For: 203.0.113.5', ...CLAIMS, 'Connection: close'].join('\r\n'))
    t.equal(res.status, 200)
    t.strictSame(describing(jsonOf(res).headers), sidecarWritten)
  })

  t.test('and so does the token pass-through', async t => {
    const seen = watchIdp(sc)
    const res = await rawRequest(sc.url, ['POST /token HTTP/1.1', 'Host: evil.example', 'X-Forwarded-For: 203.0.113.5', ...CLAIMS, `Authorization: ${basic('web-app', 'web-secret-Xy7')}`, 'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${FORM.length}`, 'Connection: close'].join('\r\n'), [FORM])
    t.equal(res.status, 200)
    const token = seen.filter(r => r.url === '/token')
    t.equal(token.length, 1)
    t.strictSame(describing(token[0]!.headers), sidecarWritten)
  })
})
