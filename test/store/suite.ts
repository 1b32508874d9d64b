import type { Test } from 'tap'
import type { DeviceGrant } from '../../src/device/grant.js'
import type { DeviceStore } from '../../src/device/store.js'

const HOUR = 3_600_000
const TOKENS = { access_token: 'at', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt', id_token: 'x.y.z', extra: { nested: true } }

/** What a store under test needs: a fresh store and a way to move its clock. */
export interface StoreHarness {
  store: DeviceStore
  /** The lifetime the store was made with (how long tombstones last); short for real-time stores. */
  lifetimeMs: number
  now(): number
  /** Moves time on: the injected clock, or real sleeps for a store whose keys expire in real time. */
  advance(ms: number): Promise<void>
}

/** The contract every DeviceStore adapter must keep (oauth2-proxy's RunSessionStoreTests). */
export function storeSuite (t: Test, make: () => Promise<StoreHarness>): void {
  let n = 0
  const grant = (h: StoreHarness, over: Partial<DeviceGrant> = {}): DeviceGrant => {
    n++
    return { id: `id-${n}-${Math.random()}`, client_id: 'tv', scopes: ['openid'], user_code: `CODE${n}X${Math.floor(Math.random() * 1e6)}`, status: 'issued', created_at: h.now(), expires_at: h.now() + HOUR, interval: 5, last_poll_at: 0, device_ip: '192.0.2.1', ...over }
  }

  t.test('create reserves the user code; findByUserCode finds live issued grants only', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const g = grant(h)
    t.equal(await h.store.create(g), true)
    t.equal(await h.store.create({ ...grant(h), user_code: g.user_code }), false, 'a live user code is never shared')
    t.equal((await h.store.findByUserCode(g.user_code, h.now()))?.id, g.id)
    t.equal(await h.store.findByUserCode('NOPE', h.now()), undefined)
    t.strictSame(await h.store.get(g.id), g)
  })

  t.test('poll: pending, slow_down +5 s persisted, approved once, then redeemed', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const g = grant(h)
    await h.store.create(g)
    t.strictSame(await h.store.poll(g.id, 'tv', h.now()), { status: 'pending' })
    t.strictSame(await h.store.poll(g.id, 'tv', h.now() + 1000), { status: 'slow_down', interval: 10 })
    t.strictSame(await h.store.poll(g.id, 'tv', h.now() + 6000), { status: 'slow_down', interval: 15 })
    t.strictSame(await h.store.poll(g.id, 'other', h.now() + 60_000), { status: 'unknown' }, 'another client sees nothing')
    t.equal(await h.store.settle(g.id, { status: 'approved', tokens: TOKENS, subject: 'alice' }, h.now()), true)
    t.equal(await h.store.settle(g.id, { status: 'denied' }, h.now()), false, 'settles once')
    t.equal(await h.store.findByUserCode(g.user_code, h.now()), undefined, 'a settled code is no longer found')
    t.strictSame(await h.store.poll(g.id, 'tv', h.now() + 30_000), { status: 'approved', tokens: TOKENS, subject: 'alice' })
    t.strictSame(await h.store.poll(g.id, 'tv', h.now() + 60_000), { status: 'redeemed' })
    t.equal((await h.store.get(g.id))?.tokens, undefined, 'no tokens left behind')
  })

  t.test('poll: slow_down grows the interval up to 60 s, and never asks for more than the code has left', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const start = h.now()
    const g = grant(h, { expires_at: start + 600_000 })
    await h.store.create(g)
    t.strictSame(await h.store.poll(g.id, 'tv', start), { status: 'pending' })
    const asked: number[] = []
    for (let i = 1; i <= 15; i++) {
      const r = await h.store.poll(g.id, 'tv', start + i)
      asked.push(r.status === 'slow_down' ? r.interval : -1)
    }
    t.strictSame(asked, [10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 60, 60, 60, 60], 'capped at 60 s')
    t.equal((await h.store.get(g.id))?.interval, 60, 'the capped interval is what is kept')
    t.strictSame(await h.store.poll(g.id, 'tv', start + 60_015), { status: 'pending' }, 'a device that waits 60 s is answered')
    t.strictSame(await h.store.poll(g.id, 'tv', start + 592_000), { status: 'pending' })
    t.strictSame(await h.store.poll(g.id, 'tv', start + 593_500), { status: 'slow_down', interval: 7 }, '6.5 s left: 7, not 60')
    t.strictSame(await h.store.poll(g.id, 'tv', start + 599_999), { status: 'slow_down', interval: 1 })
    t.strictSame(await h.store.poll(g.id, 'tv', start + 600_000), { status: 'expired' })
    const slow = grant(h, { interval: 90 })
    await h.store.create(slow)
    await h.store.poll(slow.id, 'tv', start)
    t.strictSame(await h.store.poll(slow.id, 'tv', start + 1000), { status: 'slow_down', interval: 90 }, 'an interval above the ceiling is kept, not grown')
  })

  t.test('denied grants answer denied with their reason', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const g = grant(h)
    await h.store.create(g)
    t.equal(await h.store.settle(g.id, { status: 'denied', description: 'no' }, h.now()), true)
    t.strictSame(await h.store.poll(g.id, 'tv', h.now()), { status: 'denied', description: 'no' })
  })

  t.test('beginLogin and settle with expectState', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const g = grant(h)
    await h.store.create(g)
    t.equal(await h.store.beginLogin(g.id, { state: 's1', code_verifier: 'v', nonce: 'n', started_at: h.now() }, h.now()), true)
    const started = h.now()
    t.equal(await h.store.beginLogin(g.id, { state: 's2', code_verifier: 'v', nonce: 'n', started_at: started, max_age: 0 }, h.now()), true, 'a newer login replaces it')
    t.strictSame((await h.store.get(g.id))?.login, { state: 's2', code_verifier: 'v', nonce: 'n', started_at: started, max_age: 0 }, 'the login keeps when it started and the max_age it sent')
    t.equal(await h.store.settle(g.id, { status: 'approved', tokens: TOKENS }, h.now(), 's1'), false, 'the replaced login cannot settle')
    t.equal(await h.store.settle(g.id, { status: 'approved', tokens: TOKENS }, h.now(), 's2'), true)
    t.equal((await h.store.get(g.id))?.login, undefined, 'the login secrets are dropped on settle')
    t.equal(await h.store.beginLogin(g.id, { state: 's3', code_verifier: 'v', nonce: 'n', started_at: h.now() }, h.now()), false, 'not once settled')
  })

  t.test('expiry: expired_token for one more lifetime (tombstone), then unknown; no settling after expiry', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const life = h.lifetimeMs
    const g = grant(h, { expires_at: h.now() + life })
    await h.store.create(g)
    await h.advance(life)
    t.equal(await h.store.findByUserCode(g.user_code, h.now()), undefined)
    t.equal(await h.store.settle(g.id, { status: 'approved', tokens: TOKENS }, h.now()), false)
    t.strictSame(await h.store.poll(g.id, 'tv', h.now()), { status: 'expired' })
    await h.advance(life * 0.6)
    t.strictSame(await h.store.poll(g.id, 'tv', h.now()), { status: 'expired' }, 'a tombstone answers expired_token')
    await h.advance(life * 0.6)
    t.strictSame(await h.store.poll(g.id, 'tv', h.now()), { status: 'unknown' })
    t.equal(await h.store.create({ ...grant(h), user_code: g.user_code }), true, 'the user code is free again')
  })

  t.test('40 concurrent polls at approval get exactly one token response', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const g = grant(h)
    await h.store.create(g)
    await h.store.settle(g.id, { status: 'approved', tokens: TOKENS }, h.now())
    const results = await Promise.all(Array.from({ length: 40 }, () => h.store.poll(g.id, 'tv', h.now())))
    t.equal(results.filter(r => r.status === 'approved').length, 1)
    t.ok(results.every(r => ['approved', 'redeemed', 'slow_down'].includes(r.status)))
  })

  t.test('refresh-token bindings and counters expire', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const window = h.lifetimeMs
    await h.store.bindRefreshToken('digest', { client_id: 'tv', scopes: ['openid'] }, window)
    t.strictSame(await h.store.refreshTokenBinding('digest'), { client_id: 'tv', scopes: ['openid'] })
    t.equal(await h.store.refreshTokenBinding('other'), undefined)
    const key = `k${Math.random()}`
    t.equal((await h.store.hit(key, window, h.now(), 0)).count, 0)
    const first = await h.store.hit(key, window, h.now())
    t.equal(first.count, 1)
    t.ok(first.resetAt > h.now() && first.resetAt <= h.now() + window, 'the window ends within its length')
    t.equal((await h.store.hit(key, window, h.now())).count, 2)
    t.equal((await h.store.hit(key, window, h.now(), 0)).count, 2)
    await h.advance(window + 1)
    t.equal((await h.store.hit(key, window, h.now())).count, 1, 'a new window')
    t.equal(await h.store.refreshTokenBinding('digest'), undefined)
  })

  t.test('refresh-token bindings keep the scopes granted (RFC 6749 §6); a rebinding replaces them', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    await h.store.bindRefreshToken('scoped', { client_id: 'tv', scopes: ['offline_access', 'api:read'] }, h.lifetimeMs)
    t.strictSame(await h.store.refreshTokenBinding('scoped'), { client_id: 'tv', scopes: ['offline_access', 'api:read'] })
    await h.store.bindRefreshToken('scoped', { client_id: 'tv', scopes: ['offline_access'] }, h.lifetimeMs)
    t.strictSame(await h.store.refreshTokenBinding('scoped'), { client_id: 'tv', scopes: ['offline_access'] }, 'the same token bound again (an IdP that does not rotate)')
    await h.store.bindRefreshToken('none-granted', { client_id: 'tv', scopes: [] }, h.lifetimeMs)
    t.strictSame(await h.store.refreshTokenBinding('none-granted'), { client_id: 'tv', scopes: [] }, 'no scope granted is not the same as scopes unknown')
    await h.store.bindRefreshToken('unknown-scopes', { client_id: 'tv' }, h.lifetimeMs)
    t.strictSame(await h.store.refreshTokenBinding('unknown-scopes'), { client_id: 'tv' }, 'a binding without scopes reads back without them')
  })

  t.test('attempt: counted before the work, refused past the allowance; the shared bound tightens each address, never closes', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const scope = `s${Math.random()}`
    const bounds = { perAddress: { max: 3, windowMs: 60_000 }, shared: { max: 5, windowMs: 60_000 }, reachedPerAddress: 1 }
    const at = async (address: string) => {
      const { allowed, tightened, left, retryAt } = await h.store.attempt(scope, address, bounds, h.now())
      t.ok(retryAt > h.now() - 1000 && retryAt <= h.now() + 60_000, 'retryAt falls within the window')
      return { allowed, tightened, left }
    }
    t.strictSame(await at('a'), { allowed: true, tightened: false, left: 2 })
    t.strictSame(await at('a'), { allowed: true, tightened: false, left: 1 })
    t.strictSame(await at('a'), { allowed: true, tightened: false, left: 0 })
    t.strictSame(await at('a'), { allowed: false, tightened: false, left: 0 }, 'over its own max')
    t.strictSame(await at('b'), { allowed: true, tightened: false, left: 2 })
    t.strictSame(await at('b'), { allowed: true, tightened: true, left: 0 }, 'the fifth reaches the shared bound: b is held to one')
    t.strictSame(await at('b'), { allowed: false, tightened: true, left: 0 })
    t.strictSame(await at('c'), { allowed: true, tightened: true, left: 0 }, 'an address that has not tried gets its one attempt')
    t.strictSame(await at('c'), { allowed: false, tightened: true, left: 0 })
    t.strictSame(await at('a'), { allowed: false, tightened: false, left: 0 }, 'an address over its own max is held by that')
    await h.store.refundAttempt(scope, 'c', h.now())
    t.strictSame(await at('c'), { allowed: true, tightened: true, left: 0 }, 'a refunded attempt can be made again')
    await h.store.refundAttempt(scope, 'never-tried', h.now())
    t.strictSame(await at('never-tried'), { allowed: true, tightened: true, left: 0 }, 'a refund never goes below 0')
    t.strictSame(await at('d'), { allowed: true, tightened: true, left: 0 }, 'the shared count beyond its bound tightens, never closes')
  })

  t.test('attempt: 50 concurrent attempts from one address get exactly its allowance; a new window opens again', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const scope = `s${Math.random()}`
    const bounds = { perAddress: { max: 7, windowMs: 60_000 }, shared: { max: 1000, windowMs: 60_000 }, reachedPerAddress: 1 }
    const verdicts = await Promise.all(Array.from({ length: 50 }, () => h.store.attempt(scope, '2001:db8::/64', bounds, h.now())))
    t.equal(verdicts.filter(v => v.allowed).length, 7)
    t.equal(verdicts.filter(v => v.allowed && v.left === 0).length, 1, 'one of them is told it was the last')

    const window = h.lifetimeMs
    const short = { perAddress: { max: 1, windowMs: window }, shared: { max: 1000, windowMs: window }, reachedPerAddress: 1 }
    t.equal((await h.store.attempt(scope, 'e', short, h.now())).allowed, true)
    t.equal((await h.store.attempt(scope, 'e', short, h.now())).allowed, false)
    await h.advance(window + 1)
    t.equal((await h.store.attempt(scope, 'e', short, h.now())).allowed, true, 'a new window')
  })

  t.test('refresh-token bindings can be dropped (revocation)', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    await h.store.bindRefreshToken('revoked-digest', { client_id: 'tv', scopes: ['openid'] }, h.lifetimeMs)
    await h.store.unbindRefreshToken('revoked-digest')
    t.equal(await h.store.refreshTokenBinding('revoked-digest'), undefined)
  })

  t.test('refresh families keep the scopes granted through claim, rotation, reuse and end', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const fam = `fam-${Math.random()}`
    const value = { client_id: 'tv', upstream_token: 'IDP-RT-1', subject: 'alice', scopes: ['offline_access', 'api:read'] }
    await h.store.createFamily(fam, 'h1', value, h.lifetimeMs)
    t.strictSame(await h.store.claimHandle(fam, 'h1', 'tv', 'L1', h.now(), 10_000), { status: 'claimed', family: value })
    t.equal(await h.store.rotateFamily(fam, 'L1', 'h2', 'IDP-RT-2', h.lifetimeMs, h.now()), true)
    t.strictSame(await h.store.claimHandle(fam, 'h2', 'tv', 'L2', h.now(), 10_000), { status: 'claimed', family: { ...value, upstream_token: 'IDP-RT-2' } }, 'a rotation keeps them')
    await h.store.releaseHandle(fam, 'L2')
    t.strictSame(await h.store.endFamily(fam, 'tv'), { ...value, upstream_token: 'IDP-RT-2' })
    const none = `fam-${Math.random()}`
    await h.store.createFamily(none, 'h1', { client_id: 'tv', upstream_token: 'IDP-RT', scopes: [] }, h.lifetimeMs)
    t.strictSame(await h.store.claimHandle(none, 'h1', 'tv', 'L1', h.now(), 10_000), { status: 'claimed', family: { client_id: 'tv', upstream_token: 'IDP-RT', scopes: [] } }, 'no scope granted is not the same as scopes unknown')
    t.equal(await h.store.rotateFamily(none, 'L1', 'h2', 'IDP-RT-2', h.lifetimeMs, h.now()), true)
    t.strictSame(await h.store.claimHandle(none, 'h0', 'tv', 'L2', h.now(), 10_000), { status: 'reused', family: { client_id: 'tv', upstream_token: 'IDP-RT-2', scopes: [] } })
  })

  t.test('refresh families: a handle is claimed once, rotated, and a used one ends the family', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const fam = `fam-${Math.random()}`
    const value = { client_id: 'tv', upstream_token: 'IDP-RT-1', subject: 'alice' }
    await h.store.createFamily(fam, 'h1', value, h.lifetimeMs)
    t.strictSame(await h.store.claimHandle(fam, 'h1', 'other', 'L0', h.now(), 10_000), { status: 'unknown' }, 'another client\'s: unknown, untouched')
    t.strictSame(await h.store.claimHandle('no-such-family', 'h1', 'tv', 'L0', h.now(), 10_000), { status: 'unknown' })
    t.strictSame(await h.store.claimHandle(fam, 'h1', 'tv', 'L1', h.now(), 10_000), { status: 'claimed', family: value })
    t.strictSame(await h.store.claimHandle(fam, 'h1', 'tv', 'L2', h.now(), 10_000), { status: 'busy' }, 'held by the first refresh')
    t.equal(await h.store.rotateFamily(fam, 'L2', 'h2', 'IDP-RT-2', h.lifetimeMs, h.now()), false, 'only the lease holder rotates')
    t.equal(await h.store.rotateFamily(fam, 'L1', 'h2', 'IDP-RT-2', h.lifetimeMs, h.now()), true)
    t.equal(await h.store.rotateFamily(fam, 'L1', 'h3', 'IDP-RT-3', h.lifetimeMs, h.now()), false, 'a lease rotates once')
    t.strictSame(await h.store.claimHandle(fam, 'h2', 'tv', 'L3', h.now(), 10_000), { status: 'claimed', family: { ...value, upstream_token: 'IDP-RT-2' } })
    await h.store.releaseHandle(fam, 'L3')
    t.strictSame(await h.store.claimHandle(fam, 'h2', 'tv', 'L4', h.now(), 10_000), { status: 'claimed', family: { ...value, upstream_token: 'IDP-RT-2' } }, 'given back: claimable again')
    t.strictSame(await h.store.claimHandle(fam, 'h1', 'tv', 'L5', h.now(), 10_000), { status: 'reused', family: { ...value, upstream_token: 'IDP-RT-2' } }, 'a used handle: the family, once')
    t.strictSame(await h.store.claimHandle(fam, 'h2', 'tv', 'L6', h.now(), 10_000), { status: 'unknown' }, 'the family is gone')
    t.equal(await h.store.rotateFamily(fam, 'L4', 'h3', 'IDP-RT-3', h.lifetimeMs, h.now()), false, 'a refresh in flight cannot bring it back')
  })

  t.test('refresh families: the handle just used is busy during its grace, then reused', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const fam = `fam-${Math.random()}`
    await h.store.createFamily(fam, 'h1', { client_id: 'tv', upstream_token: 'IDP-RT' }, h.lifetimeMs)
    t.equal((await h.store.claimHandle(fam, 'h1', 'tv', 'L1', h.now(), 10_000)).status, 'claimed')
    const at = h.now()
    t.equal(await h.store.rotateFamily(fam, 'L1', 'h2', 'IDP-RT-2', h.lifetimeMs, at + 1_000), true)
    t.strictSame(await h.store.claimHandle(fam, 'h1', 'tv', 'L2', at + 999, 10_000), { status: 'busy' }, 'a duplicate of that refresh')
    t.strictSame(await h.store.claimHandle(fam, 'h0', 'tv', 'L2', at + 999, 10_000), { status: 'reused', family: { client_id: 'tv', upstream_token: 'IDP-RT-2' } }, 'any other old handle ends it at once')
    const again = `fam-${Math.random()}`
    await h.store.createFamily(again, 'h1', { client_id: 'tv', upstream_token: 'IDP-RT' }, h.lifetimeMs)
    await h.store.claimHandle(again, 'h1', 'tv', 'L1', at, 10_000)
    await h.store.rotateFamily(again, 'L1', 'h2', 'IDP-RT-2', h.lifetimeMs, at + 1_000)
    t.equal((await h.store.claimHandle(again, 'h1', 'tv', 'L2', at + 1_000, 10_000)).status, 'reused', 'after its grace')
  })

  t.test('refresh families: a lease that ran out can be taken over; endFamily once, by its client only', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const fam = `fam-${Math.random()}`
    await h.store.createFamily(fam, 'h1', { client_id: 'tv', upstream_token: 'IDP-RT' }, h.lifetimeMs)
    t.equal((await h.store.claimHandle(fam, 'h1', 'tv', 'L1', h.now(), 1_000)).status, 'claimed')
    t.equal((await h.store.claimHandle(fam, 'h1', 'tv', 'L2', h.now() + 1_001, 1_000)).status, 'claimed', 'the first refresh never came back')
    t.equal(await h.store.rotateFamily(fam, 'L1', 'h2', 'IDP-RT-2', h.lifetimeMs, h.now()), false, 'the late one lost its lease')
    t.equal(await h.store.endFamily(fam, 'other'), undefined, 'not another client\'s')
    t.strictSame(await h.store.endFamily(fam, 'tv'), { client_id: 'tv', upstream_token: 'IDP-RT' })
    t.equal(await h.store.endFamily(fam), undefined, 'once')
    t.equal((await h.store.claimHandle(fam, 'h1', 'tv', 'L3', h.now(), 1_000)).status, 'unknown')
  })

  t.test('refresh families: 40 concurrent claims of one handle, exactly one claimed; families expire', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const fam = `fam-${Math.random()}`
    await h.store.createFamily(fam, 'h1', { client_id: 'tv', upstream_token: 'IDP-RT' }, h.lifetimeMs)
    const claims = await Promise.all(Array.from({ length: 40 }, (_, i) => h.store.claimHandle(fam, 'h1', 'tv', `L${i}`, h.now(), 60_000)))
    t.equal(claims.filter(c => c.status === 'claimed').length, 1)
    t.equal(claims.filter(c => c.status === 'busy').length, 39)
    const short = `fam-${Math.random()}`
    await h.store.createFamily(short, 'h1', { client_id: 'tv', upstream_token: 'IDP-RT' }, h.lifetimeMs)
    await h.advance(h.lifetimeMs + 1)
    t.strictSame(await h.store.claimHandle(short, 'h1', 'tv', 'L', h.now(), 1_000), { status: 'unknown' }, 'gone after its lifetime')
  })

  t.test('revoke: pending and approved-unredeemed grants become denied, tokens dropped; nothing else', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const pending = grant(h)
    const approved = grant(h)
    const redeemed = grant(h)
    for (const g of [pending, approved, redeemed]) await h.store.create(g)
    await h.store.beginLogin(pending.id, { state: 's', code_verifier: 'v', nonce: 'n', started_at: h.now() }, h.now())
    await h.store.settle(approved.id, { status: 'approved', tokens: TOKENS, subject: 'alice' }, h.now())
    await h.store.settle(redeemed.id, { status: 'approved', tokens: TOKENS }, h.now())
    t.equal((await h.store.poll(redeemed.id, 'tv', h.now())).status, 'approved')

    t.equal(await h.store.revoke(pending.id, 'revoked by an administrator', h.now()), true)
    t.equal(await h.store.revoke(approved.id, 'revoked by an administrator', h.now()), true)
    t.equal(await h.store.revoke(redeemed.id, 'revoked by an administrator', h.now()), false, 'tokens already taken: nothing to revoke')
    t.equal(await h.store.revoke(pending.id, 'again', h.now()), false, 'once')
    t.equal(await h.store.revoke('no-such-grant', 'x', h.now()), false)
    t.strictSame(await h.store.poll(pending.id, 'tv', h.now()), { status: 'denied', description: 'revoked by an administrator' })
    await h.advance(6_000)
    t.strictSame(await h.store.poll(approved.id, 'tv', h.now()), { status: 'denied', description: 'revoked by an administrator' }, 'the parked tokens never leave')
    const stored = await h.store.get(approved.id)
    t.equal(stored?.tokens, undefined)
    t.equal(stored?.subject, undefined)
    t.equal((await h.store.get(pending.id))?.login, undefined, 'login secrets dropped')
    t.equal(await h.store.findByUserCode(pending.user_code, h.now()), undefined, 'its user code no longer finds it')
    t.equal(await h.store.settle(pending.id, { status: 'approved', tokens: TOKENS }, h.now()), false, 'a revoked grant cannot be approved later')
  })

  t.test('list and countByState: by client and state, newest first, tombstones included, limit', async t => {
    const h = await make()
    t.teardown(() => h.store.close())
    const client = `list-${Math.random()}`
    const before = await h.store.countByState(h.now())
    const life = h.lifetimeMs
    const a = grant(h, { client_id: client, created_at: h.now() - 3, expires_at: h.now() + life })
    const b = grant(h, { client_id: client, created_at: h.now() - 2, expires_at: h.now() + life })
    const c = grant(h, { client_id: client, created_at: h.now() - 1, expires_at: h.now() + life })
    const d = grant(h, { client_id: client, created_at: h.now(), expires_at: h.now() + life })
    const other = grant(h, { expires_at: h.now() + life })
    for (const g of [a, b, c, d, other]) await h.store.create(g)
    await h.store.settle(b.id, { status: 'approved', tokens: TOKENS }, h.now())
    await h.store.settle(c.id, { status: 'denied' }, h.now())
    await h.store.settle(d.id, { status: 'approved', tokens: TOKENS }, h.now())
    await h.store.poll(d.id, client, h.now())

    const ids = (gs: DeviceGrant[]): string[] => gs.map(g => g.id)
    t.strictSame(ids(await h.store.list({ client_id: client }, h.now(), 100)), [d.id, c.id, b.id, a.id], 'newest first')
    t.strictSame(ids(await h.store.list({ client_id: client }, h.now(), 2)), [d.id, c.id], 'limit')
    t.strictSame(ids(await h.store.list({ client_id: client, state: 'pending' }, h.now(), 100)), [a.id])
    t.strictSame(ids(await h.store.list({ client_id: client, state: 'approved' }, h.now(), 100)), [b.id])
    t.strictSame(ids(await h.store.list({ client_id: client, state: 'denied' }, h.now(), 100)), [c.id])
    t.strictSame(ids(await h.store.list({ client_id: client, state: 'redeemed' }, h.now(), 100)), [d.id])
    const listed = (await h.store.list({ client_id: client, state: 'pending' }, h.now(), 1))[0]
    t.equal(listed?.device_ip, '192.0.2.1')
    const after = await h.store.countByState(h.now())
    t.strictSame(
      { pending: after.pending - before.pending, approved: after.approved - before.approved, denied: after.denied - before.denied, redeemed: after.redeemed - before.redeemed, expired: after.expired - before.expired },
      { pending: 2, approved: 1, denied: 1, redeemed: 1, expired: 0 }
    )
    await h.advance(life)
    t.strictSame(ids(await h.store.list({ client_id: client, state: 'expired' }, h.now(), 100)), [b.id, a.id], 'past expiry: issued and approved count as expired')
    const expired = await h.store.countByState(h.now())
    t.ok(expired.expired - before.expired >= 2, 'the gauge sees them as expired')
    await h.advance(life * 1.2)
    t.strictSame(await h.store.list({ client_id: client }, h.now(), 100), [], 'gone after the tombstone')
    const gone = await h.store.countByState(h.now())
    t.ok(gone.expired - expired.expired <= -2 && gone.denied - after.denied <= -1 && gone.redeemed - after.redeemed <= -1, 'and out of the gauge')
  })
}
