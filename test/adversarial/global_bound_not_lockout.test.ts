/**
 * Issue 13, finding 3 (global bound): once wrong user codes from everyone together reached
 * limits.user_code_attempts_global, every address got 429 for the rest of the window, a person
 * with the right code included: a switch any one network could flip for everyone. Reaching the
 * bound now tightens what each address may still try (one attempt per address per window by
 * default); an address that has not guessed still gets the confirm page and can approve.
 */
import t, { type Test } from 'tap'
import { approveOnPhone, Browser } from '../helpers/browser.js'
import { authorize } from '../helpers/http.js'
import { redisMissing, startRedis } from '../helpers/redis.js'
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js'

const WRONG = 'BCDF-GHJK'
const lookups = (sc: TestSidecar): number => sc.logs.filter(l => l.includes('"event":"verification.code_wrong"')).length

async function boundReached (t: Test, store: Record<string, unknown> | undefined): Promise<void> {
  const sc = await startSidecar({
    config: {
      ...(store === undefined ? {} : { store }),
      limits: { user_code_attempts: { max: 10, window_seconds: 600 }, user_code_attempts_global: { max: 50, window_seconds: 600 } }
    }
  })
  t.teardown(sc.close)
  const good = await authorize(sc)

  // five attacker networks use their ten guesses each: 50, the global bound
  for (let n = 1; n <= 5; n++) {
    const b = new Browser(`203.0.113.${n}`)
    const enter = await b.get(`${sc.url}/device`)
    for (let i = 0; i < 10; i++) await b.submit(enter, { user_code: WRONG })
  }
  t.equal(lookups(sc), 50)
  const again = new Browser('203.0.113.1')
  t.equal((await again.submit(await again.get(`${sc.url}/device`), { user_code: good.json.user_code })).status, 429, 'an attacker\'s address stays held')

  const sixth = new Browser('203.0.113.6')
  const sixthEnter = await sixth.get(`${sc.url}/device`)
  const one = await sixth.submit(sixthEnter, { user_code: WRONG })
  t.equal(one.status, 429, 'past the bound a new address has one attempt: its wrong code is looked up and it is told to wait')
  t.match(one.html, 'Too many attempts')
  t.notMatch(one.html, 'paused for everyone')
  const wait = Number(one.headers['retry-after'])
  t.ok(wait >= 1 && wait <= 600, `Retry-After ${wait} within the window`)
  t.equal((await sixth.submit(sixthEnter, { user_code: WRONG })).status, 429)
  t.equal(lookups(sc), 51, 'its second attempt is not looked up')
  t.ok(sc.logs.some(l => l.includes('"event":"verification.throttled"') && l.includes('"scope":"global"')))

  const person = new Browser('192.0.2.10')
  const { confirm, final } = await approveOnPhone(person, good.json.verification_uri_complete)
  t.equal(confirm.status, 200, 'a person with the right code from an address that has not guessed gets the confirm page')
  t.match(confirm.html, good.json.user_code)
  t.equal(final.status, 200, 'and approves: the right code took nothing from the address\'s allowance')
  t.match(final.html, 'Device connected')
}

t.test('memory store: the global bound tightens each address; it never closes code entry', async t => {
  await boundReached(t, undefined)
})

t.test('redis store: the global bound tightens each address; it never closes code entry', { skip: redisMissing() ?? false }, async t => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  await boundReached(t, { type: 'redis', encryption_key: 'lockout-test-encryption-key-0123456789abcd', redis: { url: redis.url } })
})
