/**
 * Issue 13, finding 13: one client's upload must not break another client's request. A 100 KB
 * chunked POST to an IdP path that answers without reading the body, then someone else's GET on a
 * fresh connection: the GET never inherits the upstream connection the IdP gave up on. Bodies to
 * proxied paths have their own limit (server.proxy_body_limit_bytes): larger ones get 413 and are
 * never forwarded.
 */
import type { IncomingHttpHeaders } from 'node:http'
import t from 'tap'
import { jsonOf, rawRequest } from '../helpers/raw_http.js'
import { startSidecar } from '../helpers/sidecar.js'

const ROUNDS = 10
const KIB = 1024

/** A chunked body of `total` bytes in 16 KiB chunks, ending with the last chunk. */
function chunked (total: number): string[] {
  const parts: string[] = []
  for (let sent = 0; sent < total;) {
    const size = Math.min(16 * KIB, total - sent)
    parts.push(`${size.toString(16)}\r\n${'x'.repeat(size)}\r\n`)
    sent += size
  }
  parts.push('0\r\n\r\n')
  return parts
}

t.test('an upload the IdP does not read leaves no dead connection for the next request', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const failures: string[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const upload = await rawRequest(sc.url, ['POST /interaction/abc HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: application/x-www-form-urlencoded', 'Transfer-Encoding: chunked', 'Connection: close'].join('\r\n'), chunked(100 * KIB))
    if (upload.status >= 500) failures.push(`round ${round}: upload ${upload.status}`)
    const jwks = await rawRequest(sc.url, ['GET /jwks HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close'].join('\r\n'))
    if (jwks.status !== 200) failures.push(`round ${round}: GET /jwks ${jwks.status} ${jwks.body.toString('utf8')}`)
    else if (!Array.isArray(jsonOf(jwks)?.keys)) failures.push(`round ${round}: GET /jwks without keys`)
  }
  t.strictSame(failures, [], `0 of ${ROUNDS} rounds fail`)
})

t.test('server.proxy_body_limit_bytes bounds bodies to proxied paths', async t => {
  const sc = await startSidecar({ config: { server: { proxy_body_limit_bytes: 64 * KIB } } })
  t.teardown(sc.close)
  const reached: Array<{ url: string; headers: IncomingHttpHeaders }> = []
  sc.idp.server.prependListener('request', req => { reached.push({ url: req.url ?? '', headers: req.headers }) })
  const refused = { error: 'invalid_request', error_description: 'the request body is larger than 65536 bytes' }

  t.test('a body at the limit is forwarded', async t => {
    const res = await rawRequest(sc.url, ['POST /echo/at-limit HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: text/plain', `Content-Length: ${64 * KIB}`, 'Connection: close'].join('\r\n'), ['y'.repeat(64 * KIB)])
    t.equal(res.status, 200)
    t.equal(jsonOf(res).body.length, 64 * KIB)
  })

  t.test('a larger Content-Length gets 413 before the body is read', async t => {
    const res = await rawRequest(sc.url, ['POST /echo/declared HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: text/plain', `Content-Length: ${64 * KIB + 1}`].join('\r\n'))
    t.equal(res.status, 413)
    t.strictSame(jsonOf(res), refused)
    t.equal(res.headers['cache-control'], 'no-store')
  })

  t.test('a larger chunked body gets 413', async t => {
    const res = await rawRequest(sc.url, ['POST /echo/chunked HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: text/plain', 'Transfer-Encoding: chunked'].join('\r\n'), chunked(80 * KIB))
    t.equal(res.status, 413)
    t.strictSame(jsonOf(res), refused)
  })

  t.test('a person gets a page that says so', async t => {
    const res = await rawRequest(sc.url, ['POST /echo/page HTTP/1.1', 'Host: 127.0.0.1', 'Accept: text/html', 'Content-Type: text/plain', `Content-Length: ${100 * KIB}`].join('\r\n'))
    t.equal(res.status, 413)
    t.match(res.headers['content-type'], 'text/html')
    t.match(res.body.toString('utf8'), 'too large')
  })

  t.test('none of them reached the IdP', async t => {
    t.strictSame(reached.map(r => r.url), ['/echo/at-limit'])
    t.notOk(sc.logs.some(l => l.includes('"stack"')), 'no log line carries a stack')
  })
})
