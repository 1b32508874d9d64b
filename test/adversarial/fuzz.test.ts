/**
 * A property-based fuzzer of every endpoint: random methods, paths (the sidecar's own and their
 * non-canonical spellings, proxied ones), content types, forms with repeated, array-like, huge,
 * odd and invalid-UTF-8 parameters, odd and hop-by-hop headers, chunked and Content-Length
 * bodies, all written on raw sockets so nothing is tidied on the way. The property: every request
 * gets an answer below 500, the process stays up, /healthz stays 200 and a pending grant stays
 * pollable. Seeded: the seed is printed first and in any failure (FUZZ_SEED=… to replay,
 * FUZZ_RUNS=… for a longer run); bounded in count and time.
 */
import { connect } from 'node:net'
import fc from 'fast-check'
import t from 'tap'
import { authorize, get, poll } from '../helpers/http.js'
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js'

const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
const runs = Number(process.env.FUZZ_RUNS ?? 2000)
const ANSWER_WAIT_MS = 10_000

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code'
const NAMES = ['grant_type', 'device_code', 'client_id', 'client_secret', 'scope', 'refresh_token', 'user_code', 'csrf', 'action', 'code', 'state', 'iss', 'error', 'token', 'token_type_hint', '__proto__', 'constructor', 'toString', 'a[]', 'a[0]', '']
const PATHS = ['/token', '/device_authorization', '/device', '/device/callback', '/device/api/request', '/device/api/decision', '/device/api/openapi.json', '/device/api/Decision', '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/healthz', '/readyz', '/echo', '/jwks', '/auth', '/TOKEN', '/token/', '/./token', '/%74oken', '//token', '/device/../token', '/Device', '/device/', '/device_authorization/', '/token;x', '/token%2f', '/.well-known/openid-configuration/', '*', '/%', '/%zz']
const TYPES = ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', '', 'x', 'application/x-www-form-urlencoded;;;', undefined]

/** Header values as a client may send them: printable ASCII, Latin-1 and the odd control byte, no line break. */
const headerValue = fc.oneof(
  fc.string({ maxLength: 40 }).map(s => s.replace(/[\r\n]/g, '')),
  fc.constantFrom('Basic !!!', 'Basic Og==', `Basic ${Buffer.from('tv-app:').toString('base64')}`, `Basic ${Buffer.from('console:console-secret-1').toString('base64')}`, 'Bearer x', '', ' ', '\t', 'ÿ\x01')
)

const value = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(DEVICE, encodeURIComponent(DEVICE), 'refresh_token', 'tv-app', 'console', 'openid', 'openid offline_access', 'BCDF-GHJK', '%', '%zz', '%C3%28', '%FF', '+', '%00', 'approve', 'deny', 'lookup', '{"user_code":"BCDF-GHJK","decision":"approve","csrf_token":"x"}', '{', '[]', 'null'),
  fc.nat({ max: 70_000 }).map(n => 'x'.repeat(n))
)

const param = fc.tuple(fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 12 })), fc.option(value, { nil: undefined }))

/** A form body: names encoded or raw (so bad escapes stay bad), sometimes with raw bytes that are not UTF-8. */
const body = fc.oneof(
  fc.array(param, { maxLength: 12 }).chain(params => fc.boolean().map(raw => Buffer.from(params.map(([n, v]) => {
    const name = raw ? n : encodeURIComponent(n)
    return v === undefined ? name : `${name}=${raw ? v : encodeURIComponent(v)}`
  }).join('&')))),
  fc.nat({ max: 200 }).map(n => Buffer.from(Array.from({ length: n }, (_, i) => `p${i}`).join('&'))),
  fc.uint8Array({ maxLength: 200 }).map(b => Buffer.from(b)),
  fc.constant(Buffer.alloc(0))
)

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'post', 'CONNECT'),
  path: fc.constantFrom(...PATHS),
  query: fc.option(fc.array(param, { maxLength: 4 }).map(ps => ps.map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v ?? '')}`).join('&')), { nil: undefined }),
  type: fc.constantFrom(...TYPES),
  body,
  chunked: fc.boolean(),
  headers: fc.array(fc.tuple(fc.constantFrom('authorization', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'x-real-ip', 'cookie', 'accept', 'keep-alive', 'upgrade', 'te', 'expect', 'content-encoding', 'origin', 'referer', 'user-agent', 'x-foo'), headerValue), { maxLength: 4 }),
  host: fc.constantFrom('own', 'evil.example', '', 'own:99999')
})
type FuzzRequest = typeof request extends fc.Arbitrary<infer R> ? R : never

/** The request as bytes on the wire, and the status line's code that came back (0 when none came). */
async function send (sc: TestSidecar, r: FuzzRequest): Promise<{ status: number; head: string }> {
  const own = new URL(sc.url).host
  const lines = [`${r.method} ${r.path}${r.query === undefined ? '' : `?${r.query}`} HTTP/1.1`, `Host: ${r.host === 'own' ? own : r.host === 'own:99999' ? `${own.split(':')[0]}:99999` : r.host}`, 'Connection: close']
  if (r.type !== undefined) lines.push(`Content-Type: ${r.type}`)
  for (const [name, v] of r.headers) lines.push(`${name}: ${v}`)
  const withBody = r.method !== 'GET' && r.method !== 'HEAD'
  if (withBody) lines.push(r.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${r.body.length}`)
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
  const payload = !withBody ? Buffer.alloc(0) : r.chunked ? Buffer.concat([Buffer.from(`${r.body.length.toString(16)}\r\n`), r.body, Buffer.from(r.body.length === 0 ? '\r\n' : '\r\n0\r\n\r\n')]) : r.body
  const { port } = new URL(sc.url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer within ${ANSWER_WAIT_MS} ms`)) }, ANSWER_WAIT_MS)
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      const text = Buffer.concat(chunks).toString('latin1')
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text)
      resolve({ status: m === null ? 0 : Number(m[1]), head: text.slice(0, 400) })
    }
    // the first answer, once whole (a proxied answer may keep the connection open)
    socket.on('data', d => {
      chunks.push(d)
      if (complete(Buffer.concat(chunks).toString('latin1'), r.method === 'HEAD')) finish()
    })
    socket.on('error', () => {}) // a reset after the answer is the server closing, not a failure
    socket.on('close', finish)
    socket.write(Buffer.concat([head, payload]))
  })
}

/** True once `text` holds a whole HTTP/1.1 response (Content-Length, chunked, or no body for HEAD and 1xx/204/304). */
function complete (text: string, head: boolean): boolean {
  const end = text.indexOf('\r\n\r\n')
  if (end === -1) return false
  const headers = text.slice(0, end)
  const status = Number(headers.slice(9, 12))
  if (status === 100) return complete(text.slice(end + 4), head)
  if (head || status === 204 || status === 304) return true
  const length = /\r\ncontent-length: *(\d+)/i.exec(headers)
  if (length !== null) return Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(length[1])
  return /\r\ntransfer-encoding: *chunked/i.test(headers) && text.endsWith('0\r\n\r\n')
}

t.test(`fuzzing every endpoint (seed ${seed}, ${runs} runs): never a 5xx, never a crash, the sidecar keeps serving`, async t => {
  t.comment(`FUZZ_SEED=${seed}`)
  // a day's code lifetime: each run moves the clock one poll interval on
  const sc = await startSidecar({ config: { limits: { enabled: false }, device_flow_settings: { device_flow_codelifetime_seconds: 86_400 } } })
  t.teardown(sc.close)
  const da = await authorize(sc)
  t.equal(da.status, 200)
  let count = 0
  await fc.assert(fc.asyncProperty(request, async r => {
    count++
    const { status, head } = await send(sc, r)
    if (status === 0 && r.method === 'CONNECT') return // node hands CONNECT to its own event, which closes it
    if (status === 0 || status >= 500) throw new Error(`answered ${status}: ${head}`)
    sc.clock.advance(6_000)
    const p = await poll(sc, da.json.device_code)
    if (p.json?.error !== 'authorization_pending') throw new Error(`the pending grant answered ${p.status} ${p.text}`)
  }), { seed, numRuns: runs, interruptAfterTimeLimit: 50_000, markInterruptAsFailure: false, endOnFailure: true })
  t.ok(count > 0, `${count} requests sent`)
  t.equal((await get(`${sc.url}/healthz`)).status, 200, '/healthz still 200')
})
