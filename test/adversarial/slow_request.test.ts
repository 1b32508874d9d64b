/**
 * Finding 6 of the attack run: with fastify's requestTimeout of 0, a POST whose body never arrived
 * held its connection for ever, and 300 of them made a server with a 256-descriptor limit refuse
 * everyone. Now a request not received within server.request_timeout_seconds gets 408 with an
 * RFC 6749 §5.2 body and is closed, and one address may hold at most
 * server.max_connections_per_ip connections (trusted proxies are not counted).
 */
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { authorize, poll } from '../helpers/http.js'
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js'

const WAIT_MS = 6_000 // the test's own bound: well past the 1 s limit and node's 1 s check interval

interface Outcome { received: string; closed: boolean; ms: number }

/** Opens a connection to the sidecar, writes `text`, and resolves what came back once it closes (or after WAIT_MS). */
async function hold (sc: TestSidecar, text: string): Promise<Outcome> {
  const socket = await open(sc)
  const started = Date.now()
  return new Promise(resolve => {
    let received = ''
    const timer = setTimeout(() => { socket.destroy(); resolve({ received, closed: false, ms: Date.now() - started }) }, WAIT_MS)
    socket.on('data', d => { received += d.toString() })
    socket.on('error', () => {})
    socket.on('close', () => { clearTimeout(timer); resolve({ received, closed: true, ms: Date.now() - started }) })
    socket.write(text)
  })
}

async function open (sc: TestSidecar): Promise<Socket> {
  const { port } = new URL(sc.url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => { resolve(socket) })
    socket.once('error', reject)
  })
}

const bodyOf = (response: string): unknown => JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4))

t.test('a request not fully received in time gets 408 and its connection is closed', async t => {
  const sc = await startSidecar({ config: { server: { request_timeout_seconds: 1 } } })
  t.teardown(sc.close)
  const host = new URL(sc.url).host
  const da = await authorize(sc)
  const cases: Array<[string, string]> = [
    ['a form body that stops short of its Content-Length (fast path)', `POST /token HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=`],
    ['a chunked body that never ends (proxied path)', `POST /echo HTTP/1.1\r\nHost: ${host}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`],
    ['headers that never end', `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nX-Slow: 1\r\n`]
  ]
  const outcomes = await Promise.all(cases.map(([, text]) => hold(sc, text)))
  cases.forEach(([what], i) => {
    const o = outcomes[i]!
    t.ok(o.closed, `${what}: the connection is closed (after ${o.ms} ms)`)
    t.match(o.received, /^HTTP\/1\.1 408 /, `${what}: 408`)
    t.match(o.received, /cache-control: no-store/i)
    t.strictSame(bodyOf(o.received), { error: 'invalid_request', error_description: 'the request was not received in time' })
  })
  sc.clock.advance(5_000)
  t.equal((await poll(sc, da.json.device_code)).json.error, 'authorization_pending', 'a pending grant is still pollable')
})

t.test('an address may hold at most max_connections_per_ip connections; trusted proxies are not counted', async t => {
  const limited = await startSidecar({ config: { server: { max_connections_per_ip: 4, trust_proxy: [] } } })
  t.teardown(limited.close)
  const held = await Promise.all([1, 2, 3, 4].map(() => open(limited)))
  const host = new URL(limited.url).host
  const refused = await hold(limited, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`)
  t.ok(refused.closed, 'the fifth connection is closed')
  t.equal(refused.received, '', 'at once, before it is read')
  held[0]!.destroy()
  await new Promise(resolve => setTimeout(resolve, 100))
  const again = await hold(limited, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
  t.match(again.received, /^HTTP\/1\.1 200 /, 'a connection freed is a connection the address may open again')
  for (const s of held) s.destroy()

  const proxied = await startSidecar({ config: { server: { max_connections_per_ip: 4 } } }) // loopback is a trusted proxy by default
  t.teardown(proxied.close)
  const many = await Promise.all(Array.from({ length: 10 }, () => open(proxied)))
  const through = await hold(proxied, `GET /healthz HTTP/1.1\r\nHost: ${new URL(proxied.url).host}\r\nConnection: close\r\n\r\n`)
  t.match(through.received, /^HTTP\/1\.1 200 /, 'a trusted proxy\'s eleventh connection is served')
  for (const s of many) s.destroy()
})

t.test('what node\'s HTTP parser refuses gets an RFC 6749 body and a closed connection', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const host = new URL(sc.url).host
  const garbage = await hold(sc, 'HELLO THERE\r\n\r\n')
  t.match(garbage.received, /^HTTP\/1\.1 400 /)
  t.strictSame(bodyOf(garbage.received), { error: 'invalid_request', error_description: 'the request is not valid HTTP/1.1' })
  t.ok(garbage.closed)
  const huge = await hold(sc, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
  t.match(huge.received, /^HTTP\/1\.1 431 /)
  t.match(huge.received, /cache-control: no-store/i)
  t.strictSame(bodyOf(huge.received), { error: 'invalid_request', error_description: 'the request headers are too large' })
  t.ok(huge.closed)
})
