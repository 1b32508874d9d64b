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
    await h.store.bindRefreshToken('digest', 'tv', window)
    t.equal(await h.store.refreshTokenClient('digest'), 'tv')
    t.equal(await h.store.refreshTokenClient('other'), undefined)
    const key = `k${Math.random()}`
    t.equal((await h.store.hit(key, window, h.now(), 0)).count, 0)
    const first = await h.store.hit(key, window, h.now())
    t.equal(first.count, 1)
    t.ok(first.resetAt > h.now() && first.resetAt <= h.now() + window, 'the window ends within its length')
    t.equal((await h.store.hit(key, window, h.now())).count, 2)
    t.equal((await h.store.hit(key, window, h.now(), 0)).count, 2)
    await h.advance(window + 1)
    t.equal((await h.store.hit(key, window, h.now())).count, 1, 'a new window')
    t.equal(await h.store.refreshTokenClient('digest'), undefined)
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
