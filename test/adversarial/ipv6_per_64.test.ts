/**
 * Issue 13, finding 3 (IPv6): per-address limits keyed the full IPv6 address, so one subscriber's
 * /64 (2^64 addresses) was as many "addresses": 98 addresses of one /64 got 10 wrong user codes
 * each. Every per-address key now counts IPv6 by its /64, an IPv4-mapped address (::ffff:a.b.c.d)
 * as its IPv4 address, whatever form the address is written in.
 */
import t from 'tap'
import { Browser } from '../helpers/browser.js'
import { authorize } from '../helpers/http.js'
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js'

const from = (ip: string): Record<string, string> => ({ 'x-forwarded-for': ip }) // the sidecar trusts loopback proxies
const lookups = (sc: TestSidecar): number => sc.logs.filter(l => l.includes('"event":"verification.code_wrong"')).length
const WRONG = 'BCDF-GHJK'

/** `n` different addresses of 2001:db8:1:2::/64, written in the many ways an address can be. */
function oneSlash64 (n: number): string[] {
  const forms = [
    (i: number) => `2001:db8:1:2::${i.toString(16)}`,
    (i: number) => `2001:0db8:0001:0002:0000:0000:0000:${i.toString(16).padStart(4, '0')}`,
    (i: number) => `2001:DB8:1:2:${i.toString(16).toUpperCase()}::1`,
    (i: number) => `2001:db8:1:2:ffff:${i.toString(16)}:0:1`,
    (i: number) => `2001:db8:1:2:0:0:192.0.2.${i % 256}`
  ]
  return Array.from({ length: n }, (_, i) => forms[i % forms.length]!(i + 1))
}

t.test('wrong user codes from 98 addresses of one /64 share one per-address allowance', async t => {
  const sc = await startSidecar({ config: { limits: { user_code_attempts: { max: 10, window_seconds: 600 }, user_code_attempts_global: { max: 50, window_seconds: 600 } } } })
  t.teardown(sc.close)
  const good = await authorize(sc)
  const statuses: Record<number, number> = {}
  for (const ip of oneSlash64(98)) {
    const b = new Browser(ip)
    const page = await b.submit(await b.get(`${sc.url}/device`), { user_code: WRONG })
    statuses[page.status] = (statuses[page.status] ?? 0) + 1
  }
  t.equal(lookups(sc), 10, 'ten lookups for the whole /64')
  t.strictSame(statuses, { 200: 9, 429: 89 }, 'nine wrong-code pages (a 303 back to the enter page), then 429')
  t.ok(sc.logs.some(l => l.includes('"event":"verification.throttled"') && l.includes('"scope":"address"')), 'held as one address, not by the global bound')

  const neighbour = new Browser('2001:db8:1:3::1')
  const page = await neighbour.submit(await neighbour.get(`${sc.url}/device`), { user_code: good.json.user_code })
  t.equal(page.status, 200, 'the next /64 is another network: the right code gets the confirm page')
})

t.test('an IPv4-mapped IPv6 address counts as its IPv4 address', async t => {
  const sc = await startSidecar({ config: { limits: { user_code_attempts: { max: 2, window_seconds: 600 } } } })
  t.teardown(sc.close)
  const v4 = new Browser('198.51.100.7')
  t.equal((await v4.submit(await v4.get(`${sc.url}/device`), { user_code: WRONG })).status, 200, 'the wrong-code page')
  const mapped = new Browser('::ffff:198.51.100.7')
  t.equal((await mapped.submit(await mapped.get(`${sc.url}/device`), { user_code: WRONG })).status, 429, 'the second wrong code of the same address reaches its limit')
  const hex = new Browser('::FFFF:c633:6407')
  t.equal((await hex.submit(await hex.get(`${sc.url}/device`), { user_code: WRONG })).status, 429, 'written in hex too')
  t.equal(lookups(sc), 2)
})

t.test('device authorization per address counts one /64 once', async t => {
  const sc = await startSidecar({ config: { limits: { device_authorization_per_ip: { max: 5, window_seconds: 60 }, device_authorization_per_client: { max: 100, window_seconds: 60 } } } })
  t.teardown(sc.close)
  const statuses: Record<number, number> = {}
  for (const ip of oneSlash64(40)) {
    const res = await authorize(sc, undefined, from(ip))
    statuses[res.status] = (statuses[res.status] ?? 0) + 1
  }
  t.strictSame(statuses, { 200: 5, 429: 35 }, 'five for the whole /64')
  t.ok(sc.logs.filter(l => l.includes('"event":"device_authorization.rate_limited"')).every(l => l.includes('"reason":"per_ip"')))
  t.equal((await authorize(sc, undefined, from('2001:db8:1:3::1'))).status, 200, 'another /64 is another network')
  t.equal((await authorize(sc, undefined, from('198.51.100.8'))).status, 200)
})
