/**
 * Issue 13, finding 3 (device authorization): limits.device_authorization_per_client counted a
 * client's requests from every address together and then refused all of them, so one network
 * (600 requests in under a second) stopped a public client's new logins for everyone for the rest
 * of the minute. Per-address counts now take IPv6 by /64, and once the client's bound is reached
 * each network still gets its tightened allowance (one per window by default) while the
 * networks that used theirs wait.
 */
import t from 'tap'
import { authorize } from '../helpers/http.js'
import { startSidecar } from '../helpers/sidecar.js'

const from = (ip: string): Record<string, string> => ({ 'x-forwarded-for': ip }) // the sidecar trusts loopback proxies
const LIMITS = { device_authorization_per_ip: { max: 5, window_seconds: 60 }, device_authorization_per_client: { max: 20, window_seconds: 60 } }

t.test('a flood from one /64 cannot reach the client\'s bound', async t => {
  const sc = await startSidecar({ config: { limits: LIMITS } })
  t.teardown(sc.close)
  const statuses: Record<number, number> = {}
  const flood = await Promise.all(Array.from({ length: 60 }, (_, i) => authorize(sc, undefined, from(`2001:db8:66:1:${(i + 1).toString(16)}::1`))))
  for (const res of flood) statuses[res.status] = (statuses[res.status] ?? 0) + 1
  t.strictSame(statuses, { 200: 5, 429: 55 })
  const other = await authorize(sc, undefined, from('198.51.100.20'))
  t.equal(other.status, 200, 'another network\'s device still gets its codes')
})

t.test('once many networks reach the client\'s bound, a network that has not asked still gets its device authorization', async t => {
  const sc = await startSidecar({ config: { limits: LIMITS } })
  t.teardown(sc.close)
  for (let n = 1; n <= 4; n++) {
    for (let i = 0; i < 5; i++) t.equal((await authorize(sc, undefined, from(`203.0.113.${n}`))).status, 200)
  }
  const flooder = await authorize(sc, undefined, from('203.0.113.1'))
  t.equal(flooder.status, 429, 'a flooding address is over its own limit')

  const fresh = await authorize(sc, undefined, from('192.0.2.30'))
  t.equal(fresh.status, 200, 'past the client\'s bound, a network that has not asked gets one')
  t.type(fresh.json.device_code, 'string')
  const second = await authorize(sc, undefined, from('192.0.2.30'))
  t.equal(second.status, 429, 'and then waits')
  t.equal(second.json.error, 'slow_down')
  t.equal(second.headers['cache-control'], 'no-store')
  const wait = Number(second.headers['retry-after'])
  t.ok(wait >= 1 && wait <= 60, `Retry-After ${wait} within the window`)
  t.ok(sc.logs.some(l => l.includes('"event":"device_authorization.rate_limited"') && l.includes('"reason":"per_client"') && l.includes('"device_ip":"192.0.2.30"')))

  const seventh = await authorize(sc, undefined, from('203.0.113.7'))
  t.equal(seventh.status, 200, 'every network that has not asked gets one')
  t.equal((await authorize(sc, { client_id: 'cli', client_secret: 'cli-secret-2', scope: 'openid' }, from('203.0.113.8'))).status, 200, 'another client is not limited')
  sc.clock.advance(60_000)
  t.equal((await authorize(sc, undefined, from('192.0.2.30'))).status, 200, 'a new window')
})
