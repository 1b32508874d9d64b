import { connect, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { authorize, DEVICE_GRANT, poll, post } from './helpers/http.js'
import { sample, scrape } from './helpers/metrics.js'
import { startSidecar, WEB_CLIENT } from './helpers/sidecar.js'

const PENDING = { error: 'authorization_pending', error_description: 'the user has not yet completed the authorization' }
const answered = async (adminUrl: string): Promise<{ answered: number; passedOn: number }> => {
  const m = await scrape(adminUrl)
  return { answered: sample(m, 'dfs_fast_path_requests_total{outcome=answered}'), passedOn: sample(m, 'dfs_fast_path_requests_total{outcome=passed_on}') }
}

/** One raw HTTP/1.1 exchange on a socket: writes `text`, resolves what came back once `done(received)` says so. */
async function exchange (socket: Socket, text: string, done: (received: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = ''
    const onData = (d: Buffer): void => {
      received += d.toString()
      if (done(received)) { socket.off('data', onData); resolve(received) }
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.write(text)
  })
}
const complete = (r: string): boolean => {
  const end = r.indexOf('\r\n\r\n')
  if (end === -1) return false
  const length = /content-length: (\d+)/i.exec(r.slice(0, end))
  return length !== null && r.length >= end + 4 + Number(length[1])
}

t.test('the device endpoints are answered ahead of fastify, with fastify\'s answers where it does not take a request', async t => {
  const sc = await startSidecar({ config: { server: { body_limit_bytes: 2048 } } })
  t.teardown(sc.close)
  const admin = sc.adminUrl!

  t.test('device authorizations and polls are answered by the fast path, with the same headers', async t => {
    const before = await answered(admin)
    const da = await authorize(sc)
    t.equal(da.status, 200)
    t.equal(da.headers['cache-control'], 'no-store')
    t.equal(da.headers.pragma, 'no-cache')
    t.equal(da.headers['content-type'], 'application/json; charset=utf-8')
    t.equal(Number(da.headers['content-length']), Buffer.byteLength(da.text))
    const res = await poll(sc, da.json.device_code)
    t.strictSame(res.json, PENDING)
    t.equal(res.headers['cache-control'], 'no-store')
    t.equal(Number(res.headers['content-length']), Buffer.byteLength(res.text))
    const after = await answered(admin)
    t.equal(after.answered - before.answered, 2)
    t.equal(after.passedOn - before.passedOn, 0)
  })

  t.test('a query string does not keep a request off the fast path', async t => {
    const before = await answered(admin)
    const res = await post(`${sc.url}/device_authorization?utm=1`, { client_id: 'tv-app', scope: 'openid' })
    t.equal(res.status, 200)
    t.match(res.json.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
    t.equal((await answered(admin)).answered - before.answered, 1)
  })

  t.test('a chunked poll (no Content-Length) is fastify\'s, with the same answer', async t => {
    const { json: da } = await authorize(sc)
    const before = await answered(admin)
    const body = new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: da.device_code, client_id: 'tv-app' }).toString()
    const res = await request(`${sc.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Readable.from([body.slice(0, 20), body.slice(20)]) // no Content-Length: sent chunked
    })
    t.equal(res.headers['transfer-encoding'], undefined) // the answer has a length; the request was chunked
    t.equal(res.statusCode, 400)
    t.strictSame(await res.body.json(), PENDING)
    t.equal(res.headers['cache-control'], 'no-store')
    const after = await answered(admin)
    t.equal(after.passedOn - before.passedOn, 1)
    t.equal(after.answered - before.answered, 0)
    // fastify's answer went through the same store: the next poll, too soon, is slowed down
    t.equal((await poll(sc, da.device_code)).json.error, 'slow_down')
  })

  t.test('a chunked device authorization is fastify\'s and is issued all the same', async t => {
    const before = await answered(admin)
    const res = await request(`${sc.url}/device_authorization`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Readable.from(['client_id=tv-', 'app&scope=openid'])
    })
    t.equal(res.statusCode, 200)
    const json = await res.body.json() as { device_code: string }
    t.equal((await poll(sc, json.device_code)).json.error, 'authorization_pending')
    t.equal((await answered(admin)).passedOn - before.passedOn, 1)
  })

  t.test('a token request that is not a poll goes on to the IdP with its body intact', async t => {
    const before = await answered(admin)
    const res = await post(`${sc.url}/token`, { grant_type: 'client_credentials', scope: 'api' }, { authorization: `Basic ${Buffer.from(`${WEB_CLIENT.client_id}:${WEB_CLIENT.client_secret!}`).toString('base64')}` })
    t.equal(res.status, 200)
    t.equal(res.json.token_type, 'Bearer')
    t.type(res.json.access_token, 'string')
    const after = await answered(admin)
    t.equal(after.passedOn - before.passedOn, 1)
    t.equal(after.answered - before.answered, 0)
  })

  t.test('a malformed form at the token endpoint gets fastify\'s invalid_request', async t => {
    const res = await post(`${sc.url}/token`, 'grant_type=x&grant_type=y', { 'content-type': 'application/x-www-form-urlencoded' })
    t.equal(res.status, 400)
    t.strictSame(res.json, { error: 'invalid_request', error_description: 'parameter "grant_type" must not be repeated' })
  })

  t.test('a body over the limit is refused by fastify, on either endpoint', async t => {
    const before = await answered(admin)
    for (const path of ['/device_authorization', '/token']) {
      const res = await post(`${sc.url}${path}`, `client_id=tv-app&scope=${'a'.repeat(4096)}`, { 'content-type': 'application/x-www-form-urlencoded' })
      t.equal(res.status, 400, path)
      t.strictSame(res.json, { error: 'invalid_request', error_description: 'the request body is too large' }, path)
    }
    t.equal((await answered(admin)).passedOn - before.passedOn, 2)
  })

  t.test('errors the fast path answers are RFC 6749 §5.2 bodies, with the Basic challenge', async t => {
    const res = await post(`${sc.url}/device_authorization`, { scope: 'openid' }, { authorization: `Basic ${Buffer.from('console:wrong').toString('base64')}` })
    t.equal(res.status, 401)
    t.strictSame(res.json, { error: 'invalid_client', error_description: 'client authentication failed' })
    t.equal(res.headers['www-authenticate'], 'Basic realm="device-flow-sidecar", charset="UTF-8"')
    t.equal(res.headers['cache-control'], 'no-store')
    const bad = await post(`${sc.url}/device_authorization`, 'client_id=tv-app&scope=%zz', { 'content-type': 'application/x-www-form-urlencoded' })
    t.strictSame(bad.json, { error: 'invalid_request', error_description: 'the request body has malformed percent-encoding' })
  })

  t.test('a bodiless POST is answered by the fast path at once, with invalid_request', async t => {
    const before = await answered(admin)
    const res = await request(`${sc.url}/device_authorization`, { method: 'POST', headers: { 'content-length': '0' } })
    t.equal(res.statusCode, 400)
    t.strictSame(await res.body.json(), { error: 'invalid_request', error_description: 'the request body must be application/x-www-form-urlencoded' })
    t.equal((await answered(admin)).answered - before.answered, 1)
  })

  t.test('the server it creates keeps fastify\'s keep-alive (polling devices keep their connections for 72 s) and bounds each request', async t => {
    const server = sc.app.server
    t.equal(server.keepAliveTimeout, 72_000) // node's own default would be 5 s
    t.equal(server.requestTimeout, 30_000, 'server.request_timeout_seconds (test/adversarial/slow_request.test.ts)')
    t.equal(server.headersTimeout, 30_000)
  })

  t.test('a client that goes away mid-body is dropped, and the next request is answered', async t => {
    const socket = connect(new URL(sc.url).port as unknown as number, '127.0.0.1')
    await new Promise(resolve => socket.once('connect', resolve))
    socket.write('POST /device_authorization HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nclient_id=tv')
    await new Promise(resolve => setTimeout(resolve, 50))
    socket.destroy()
    t.equal((await authorize(sc)).status, 200)
  })

  t.test('request durations of fast-path answers land in the route\'s histogram', async t => {
    const before = await scrape(admin)
    await authorize(sc)
    const after = await scrape(admin)
    const key = 'dfs_http_request_duration_seconds_count{method=POST,route=/device_authorization,status=2xx}'
    t.equal(sample(after, key) - sample(before, key), 1)
  })
})

t.test('with log.requests, the fast path writes fastify\'s two access lines, by path and with one request id', async t => {
  const sc = await startSidecar({ config: { log: { requests: true } } })
  t.teardown(sc.close)
  const { json: da } = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
  const lines = sc.logs.map(l => JSON.parse(l) as Record<string, any>)
  const incoming = lines.find(l => l.msg === 'incoming request' && l.req?.path === '/device_authorization')
  const completed = lines.find(l => l.msg === 'request completed' && l.reqId === incoming?.reqId)
  t.ok(incoming, 'incoming request logged')
  t.strictSame(incoming?.req, { method: 'POST', path: '/device_authorization', ip: '127.0.0.1' })
  t.equal(completed?.res.statusCode, 200)
  t.type(completed?.responseTime, 'number')
  const issued = lines.find(l => l.event === 'device_authorization.issued')
  t.equal(issued?.reqId, incoming?.reqId, 'the audit line carries the request\'s id')
  t.notOk(sc.logs.some(l => l.includes(da.device_code) || l.includes(da.user_code)), 'no code in any line')
  // a request the fast path passes on is fastify's to log: one pair of lines, not two
  const before = sc.logs.length
  const res = await post(`${sc.url}/token`, { grant_type: 'client_credentials', scope: 'api' }, { authorization: `Basic ${Buffer.from(`${WEB_CLIENT.client_id}:${WEB_CLIENT.client_secret!}`).toString('base64')}` })
  t.equal(res.status, 200)
  const passed = sc.logs.slice(before).map(l => JSON.parse(l) as Record<string, any>)
  t.equal(passed.filter(l => l.msg === 'incoming request').length, 1, 'one incoming line')
  t.equal(passed.filter(l => l.msg === 'request completed').length, 1, 'one completed line')
})

t.test('once the app is closing, a request on a kept-alive connection gets fastify\'s 503 and Connection: close', async t => {
  const sc = await startSidecar()
  const socket = connect(Number(new URL(sc.url).port), '127.0.0.1')
  await new Promise(resolve => socket.once('connect', resolve))
  const body = 'client_id=tv-app&scope=openid'
  const head = `POST /device_authorization HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`
  // the first request is in flight (body half sent) when the app starts closing: it is answered
  socket.write(head + body.slice(0, 10))
  await new Promise(resolve => setTimeout(resolve, 50))
  const closed = sc.close()
  const first = await exchange(socket, body.slice(10), complete)
  t.match(first, /^HTTP\/1\.1 200 /)
  const second = await exchange(socket, head + body, complete)
  t.match(second, /^HTTP\/1\.1 503 /)
  t.match(second, /\r\nconnection: close\r\n/i)
  socket.destroy()
  await closed
})
