/**
 * Issue 13, finding 2: the user-code throttle read "blocked", looked the code up, then counted the
 * failure, each its own store round trip, so a burst from one address ran past it (on Redis 200
 * concurrent wrong codes got 200 lookups; the limit was 10) and one address alone could reach the
 * global bound. Each entry is now one atomic count-and-decide before the lookup, on both stores.
 */
import t, { type Test } from 'tap'
import { Browser } from '../helpers/browser.js'
import { authorize } from '../helpers/http.js'
import { redisMissing, startRedis } from '../helpers/redis.js'
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js'

const BURST = 200
const MAX = 10
const GLOBAL = 50
const WRONG = 'BCDF-GHJK'

const lookups = (sc: TestSidecar, event = 'verification.code_wrong'): number => sc.logs.filter(l => l.includes(`"event":"${event}"`)).length

async function burstFromOneAddress (t: Test, store: Record<string, unknown> | undefined): Promise<void> {
  const sc = await startSidecar({
    config: {
      ...(store === undefined ? {} : { store }),
      limits: { user_code_attempts: { max: MAX, window_seconds: 600 }, user_code_attempts_global: { max: GLOBAL, window_seconds: 600 } }
    }
  })
  t.teardown(sc.close)
  const good = await authorize(sc)
  t.equal(good.status, 200)

  const attacker = new Browser('198.51.100.66')
  const enter = await attacker.get(`${sc.url}/device`)
  const pages = await Promise.all(Array.from({ length: BURST }, () => attacker.submit(enter, { user_code: WRONG })))
  const statuses: Record<number, number> = {}
  for (const p of pages) statuses[p.status] = (statuses[p.status] ?? 0) + 1
  t.equal(lookups(sc), MAX, `${BURST} concurrent wrong codes from one address: exactly ${MAX} lookups`)
  t.strictSame(statuses, { 200: MAX - 1, 429: BURST - MAX + 1 }, 'the attempt that uses the last allowance and every later one get 429')
  const waits = pages.filter(p => p.status === 429).map(p => Number(p.headers['retry-after']))
  t.ok(waits.every(w => w >= 1 && w <= 600), 'every 429 says when to come back, within the window')

  const after = await attacker.submit(enter, { user_code: good.json.user_code })
  t.equal(after.status, 429, 'the address stays held for its window, a right code included')

  const other = new Browser('192.0.2.44')
  const otherEnter = await other.get(`${sc.url}/device`)
  const wrong = await other.submit(otherEnter, { user_code: WRONG })
  t.equal(wrong.status, 200, 'one address\'s burst did not reach the global bound: another address still gets the wrong-code page')
  const right = await other.submit(otherEnter, { user_code: good.json.user_code })
  t.equal(right.status, 200, 'and a right code the confirm page')
  t.match(right.html, good.json.user_code)
  t.equal(lookups(sc), MAX + 1)
}

t.test('memory store: a burst of wrong codes from one address gets at most the limit in lookups', async t => {
  await burstFromOneAddress(t, undefined)
})

t.test('redis store: a burst of wrong codes from one address gets at most the limit in lookups', { skip: redisMissing() ?? false }, async t => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  await burstFromOneAddress(t, { type: 'redis', encryption_key: 'race-test-encryption-key-0123456789abcdef', redis: { url: redis.url } })
})
