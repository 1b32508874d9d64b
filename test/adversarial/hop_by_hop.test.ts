/**
 * Issue 13, finding 9: hop-by-hop fields (RFC 9110 §7.6.1), Expect and transfer-coding quirks
 * never turn a proxied request into a 502: each is stripped or answered, the IdP answers what it
 * can, the sidecar answers a 4xx for what cannot be relayed, and no log line carries a stack.
 */
import t, { type Test } from 'tap'
import { basic } from '../helpers/http.js'
import { jsonOf, rawRequest, type RawReply } from '../helpers/raw_http.js'
import { startSidecar } from '../helpers/sidecar.js'

const BODY = 'a=1&b=two'

function noStack (t: Test, logs: string[]): void {
  const stacks = logs.filter(l => l.includes('"stack"'))
  t.strictSame(stacks, [], 'no log line carries a stack')
}

t.test('hop-by-hop fields are stripped before the IdP', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)

  const echo = (fields: string[], body = BODY): Promise<RawReply> =>
    rawRequest(sc.url, ['POST /echo HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${body.length}`, ...fields].join('\r\n'), [body])

  t.test('Keep-Alive: timeout=5', async t => {
    const res = await echo(['Keep-Alive: timeout=5', 'Connection: close'])
    t.equal(res.status, 200)
    const seen = jsonOf(res)
    t.equal(seen.headers['keep-alive'], undefined)
    t.equal(seen.body, BODY)
  })

  t.test('Keep-Alive without Connection', async t => {
    const res = await echo(['Keep-Alive: timeout=5, max=100'])
    t.equal(res.status, 200)
    t.equal(jsonOf(res).headers['keep-alive'], undefined)
  })

  t.test('Upgrade: h2c without Connection', async t => {
    const res = await echo(['Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'])
    t.equal(res.status, 200)
    const seen = jsonOf(res)
    t.equal(seen.headers.upgrade, undefined)
    t.equal(seen.headers['http2-settings'], undefined)
  })

  t.test('an Upgrade the Connection field names is answered as a plain request (the sidecar upgrades nothing)', async t => {
    const res = await rawRequest(sc.url, ['GET /echo HTTP/1.1', 'Host: 127.0.0.1', 'Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'].join('\r\n'))
    t.equal(res.status, 200)
    const seen = jsonOf(res)
    t.equal(seen.headers.upgrade, undefined)
    t.equal(seen.headers['http2-settings'], undefined)
  })

  t.test('Connection: close, X-Foo drops X-Foo too', async t => {
    const res = await echo(['Connection: close, X-Foo', 'X-Foo: secret-for-the-next-hop', 'X-Bar: kept'])
    t.equal(res.status, 200)
    const seen = jsonOf(res)
    t.equal(seen.headers['x-foo'], undefined)
    t.equal(seen.headers['x-bar'], 'kept')
    t.not(seen.headers.connection, 'close, X-Foo')
  })

  t.test('TE, Trailer, Proxy-Connection and Proxy-Authorization', async t => {
    const res = await echo(['TE: trailers, deflate', 'Trailer: X-Checksum', 'Proxy-Connection: keep-alive', 'Proxy-Authorization: Basic cHJveHk6cGFzcw=='])
    t.equal(res.status, 200)
    const seen = jsonOf(res)
    for (const field of ['te', 'trailer', 'proxy-connection', 'proxy-authorization']) t.equal(seen.headers[field], undefined, field)
  })

  t.test('Expect: 100-continue gets its 100, and the IdP the body without the Expect', async t => {
    const res = await rawRequest(sc.url, ['POST /echo HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: text/plain', `Content-Length: ${BODY.length}`, 'Expect: 100-continue'].join('\r\n'), [BODY], { waitForContinue: true })
    t.strictSame(res.interim, [100])
    t.equal(res.status, 200)
    const seen = jsonOf(res)
    t.equal(seen.headers.expect, undefined)
    t.equal(seen.body, BODY)
  })

  t.test('an Expect the sidecar cannot honour gets 417', async t => {
    const res = await rawRequest(sc.url, ['POST /echo HTTP/1.1', 'Host: 127.0.0.1', `Content-Length: ${BODY.length}`, 'Expect: 200-ok'].join('\r\n'), [BODY])
    t.equal(res.status, 417)
  })

  t.test('Transfer-Encoding: chunked (any case) is relayed as a body', async t => {
    const res = await rawRequest(sc.url, ['POST /echo HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: text/plain', 'Transfer-Encoding: Chunked'].join('\r\n'), ['4\r\nabcd\r\n', '3\r\nefg\r\n', '0\r\n\r\n'])
    t.equal(res.status, 200)
    const seen = jsonOf(res)
    t.equal(seen.body, 'abcdefg')
    t.equal(seen.headers['transfer-encoding'], undefined, 'the IdP gets the body with its length')
    t.equal(seen.headers['content-length'], '7')
  })

  t.test('a transfer coding other than chunked cannot be relayed: 400', async t => {
    const res = await rawRequest(sc.url, ['POST /echo HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding: gzip, chunked'].join('\r\n'), ['4\r\nabcd\r\n', '0\r\n\r\n'])
    t.equal(res.status, 400)
    t.strictSame(jsonOf(res), { error: 'invalid_request', error_description: 'only the chunked transfer coding can be relayed' })
  })

  t.test('Transfer-Encoding with Content-Length: 400', async t => {
    const res = await rawRequest(sc.url, ['POST /echo HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 4', 'Transfer-Encoding: chunked'].join('\r\n'), ['4\r\nabcd\r\n', '0\r\n\r\n'])
    t.equal(res.status, 400)
  })

  t.test('a body without Content-Type reaches the IdP without one', async t => {
    const res = await rawRequest(sc.url, ['PUT /echo HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 5', 'Connection: close'].join('\r\n'), ['hello'])
    t.equal(res.status, 200)
    const seen = jsonOf(res)
    t.equal(seen.method, 'PUT')
    t.equal(seen.headers['content-type'], undefined)
    t.equal(seen.body, 'hello')
  })

  t.test('a GET with a body reaches the IdP without one', async t => {
    const res = await rawRequest(sc.url, ['GET /echo HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 5', 'Connection: close'].join('\r\n'), ['hello'])
    t.equal(res.status, 200)
    const seen = jsonOf(res)
    t.equal(seen.method, 'GET')
    t.equal(seen.headers['content-length'], undefined)
    t.equal(seen.body, '')
  })

  t.test('the IdP\'s hop-by-hop response fields are not relayed', async t => {
    const res = await echo(['Connection: close'])
    t.equal(res.status, 200)
    t.equal(res.headers['keep-alive'], undefined)
  })

  t.test('the token pass-through: Keep-Alive, Upgrade, TE, Connection-named fields and Expect', async t => {
    const form = 'grant_type=client_credentials&scope=api'
    const head = ['POST /token HTTP/1.1', 'Host: 127.0.0.1', `Authorization: ${basic('web-app', 'web-secret-Xy7')}`, 'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${form.length}`]
    for (const fields of [['Keep-Alive: timeout=5'], ['Upgrade: h2c'], ['TE: trailers'], ['Connection: X-Foo', 'X-Foo: 1'], ['Proxy-Connection: keep-alive']]) {
      const res = await rawRequest(sc.url, [...head, ...fields].join('\r\n'), [form])
      t.equal(res.status, 200, fields.join(' '))
      t.type(jsonOf(res)?.access_token, 'string')
    }
    const expect = await rawRequest(sc.url, [...head, 'Expect: 100-continue'].join('\r\n'), [form], { waitForContinue: true })
    t.strictSame(expect.interim, [100])
    t.equal(expect.status, 200)
  })

  t.test('no line of all this has a stack, and none says the IdP failed', async t => {
    noStack(t, sc.logs)
    t.strictSame(sc.logs.filter(l => l.includes('"level":50') || l.includes('"level":40')), [])
  })
})

t.test('a plain connection error to a down IdP logs one warn line, without a stack', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  await sc.idp.close()
  const before = sc.logs.length
  const res = await rawRequest(sc.url, ['GET /jwks HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close'].join('\r\n'))
  t.equal(res.status, 502)
  t.strictSame(jsonOf(res), { error: 'temporarily_unavailable', error_description: 'the identity provider cannot be reached' })
  const lines = sc.logs.slice(before)
  const warnings = lines.filter(l => l.includes('"level":40'))
  t.equal(warnings.length, 1, 'one warn line')
  t.match(warnings[0], '"code":"ECONNREFUSED"')
  t.notMatch(warnings[0], /\\n\s+at /)
  noStack(t, lines)
  t.strictSame(lines.filter(l => l.includes('"level":50')), [], 'no error line')
})
