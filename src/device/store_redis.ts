/**
 * The Redis store: grants shared by every replica, each store operation atomic per grant in one
 * Lua script (src/device/lua/*.lua, registered once with defineCommand).
 *
 * Keys (prefix `dfs:` by default); the two keys of one grant share the hash tag {<id>}, so Redis
 * Cluster accepts every script:
 *   <p>{<id>}:g   hash: the grant (short field names, see FIELDS); TTL lifetime + one lifetime (tombstone)
 *   <p>{<id>}:t   parked token response, AES-256-GCM sealed; TTL until the grant expires
 *   <p>uc:<code>  user-code index → id, SET NX so no two live grants share a code; TTL lifetime
 *   <p>rt:<hash>  a confidential client's refresh-token digest → hash of its client_id and the
 *                 scopes granted (a plain client_id string when written by a version that did not
 *                 keep scopes; binding_get.lua reads both)
 *   <p>{rf:<hash>}:f  a public client's refresh family (refresh_family.ts), keyed by the digest of
 *                 its name: client, scopes granted, current handle's digest, the IdP's token
 *                 sealed, the lease of a refresh in flight, the last used handle's digest and its
 *                 grace; TTL the family's lifetime, renewed by each refresh
 *   <p>ctr:<key>  throttle counters, fixed windows
 *   <p>ctr:{<scope>}, <p>ctr:{<scope>}:<address>  an attempt scope's shared counter and its
 *                 per-address counters, fixed windows; one hash tag, so attempt.lua counts both
 *                 in one step on Cluster too (all counters of a scope live in one slot)
 *   <p>{idx}:<status>  sorted sets of grant ids by status (issued, approved, denied, redeemed),
 *                 scored by expires_at, for the admin API and the dfs_grants gauge; pruned of ids
 *                 past their tombstone when read. Kept beside the scripts (another slot in
 *                 Cluster), so a crash between the two can leave an id in a stale set: listings
 *                 load the grant itself and trust its status.
 * A dump holds no device code (ids are SHA-256 of it), no handle, no tokens and no PKCE verifier in clear.
 * Failures surface as ERR_STORE_UNAVAILABLE at once (no offline queue), so requests get 503
 * instead of waiting; ioredis reconnects by itself. Pinned by test/store/redis.test.ts (the shared
 * suite) and test/replicas.test.ts.
 */
import { readFileSync } from 'node:fs'
import { Redis, Cluster, type RedisOptions } from 'ioredis'
import type { Clock } from '../clock.js'
import type { RedisConfig } from '../config/types.js'
import { SidecarError } from '../errors.js'
import type { EpochMs, TokenResponse } from '../oauth/types.js'
import { digest, type GrantId } from './codes.js'
import { grantState, isPending, MAX_SLOW_DOWN_INTERVAL, newestFirst, SLOW_DOWN_STEP, type DeviceGrant, type GrantState, type LoginTransaction, type PollResult, type Settlement } from './grant.js'
import type { HandleClaim, RefreshFamily } from './refresh_family.js'
import type { Sealer } from './sealing.js'
import type { AttemptBounds, AttemptVerdict, DeviceStore, GrantFilter, RefreshBinding } from './store.js'

type Client = Redis | Cluster

interface Scripts {
  dfsCreate(grant: string, ttlMs: number, ...fields: Array<string | number>): Promise<number>
  dfsBeginLogin(grant: string, now: EpochMs, stateDigest: string, sealedLogin: string): Promise<number>
  dfsSettle(grant: string, tokens: string, now: EpochMs, status: string, expectState: string, sealedTokens: string, subject: string, denial: string): Promise<string | null>
  dfsPoll(grant: string, tokens: string, clientId: string, now: EpochMs, step: number, ceiling: number): Promise<string[]>
  dfsHit(counter: string, add: number, windowMs: number): Promise<[number, number]>
  dfsAttempt(own: string, shared: string, ownMax: number, ownWindowMs: number, sharedMax: number, sharedWindowMs: number, reachedPerAddress: number): Promise<[number, number, number, number]>
  dfsRefund(own: string, shared: string): Promise<number>
  dfsRevoke(grant: string, tokens: string, now: EpochMs, reason: string): Promise<string | null>
  dfsBindingSet(binding: string, ttlMs: number, clientId: string, ...scopes: string[]): Promise<number>
  dfsBindingGet(binding: string): Promise<Array<string | null> | null>
  dfsFamilyClaim(family: string, handleDigest: string, clientId: string, lease: string, now: EpochMs, leaseMs: number): Promise<Array<string | null>>
  dfsFamilyRotate(family: string, lease: string, nextDigest: string, sealedToken: string, ttlMs: number, graceUntil: EpochMs): Promise<number>
  dfsFamilyRelease(family: string, lease: string): Promise<number>
  dfsFamilyEnd(family: string, clientId: string): Promise<Array<string | null> | null>
  dfsIndexMove(numberOfKeys: number, to: string, ...keysThenArgs: Array<string | number>): Promise<number>
}

const SCRIPTS: ReadonlyArray<[keyof Scripts, string, number]> = [
  ['dfsCreate', 'create.lua', 1],
  ['dfsBeginLogin', 'begin_login.lua', 1],
  ['dfsSettle', 'settle.lua', 2],
  ['dfsPoll', 'poll.lua', 2],
  ['dfsHit', 'hit.lua', 1],
  ['dfsAttempt', 'attempt.lua', 2],
  ['dfsRefund', 'refund.lua', 2],
  ['dfsRevoke', 'revoke.lua', 2],
  ['dfsBindingSet', 'binding_set.lua', 1],
  ['dfsBindingGet', 'binding_get.lua', 1],
  ['dfsFamilyClaim', 'family_claim.lua', 1],
  ['dfsFamilyRotate', 'family_rotate.lua', 1],
  ['dfsFamilyRelease', 'family_release.lua', 1],
  ['dfsFamilyEnd', 'family_end.lua', 1]
]
const INDEXED = ['issued', 'approved', 'denied', 'redeemed'] as const
type Indexed = typeof INDEXED[number]
const LOAD_CHUNK = 200

export interface RedisStoreOptions {
  redis: RedisConfig
  /** One code lifetime: grants are kept this long past expiry as tombstones. */
  lifetimeMs: number
  sealer: Sealer
  clock: Clock
}

/** Grants in Redis; see the file header for the key layout. */
export class RedisStore implements DeviceStore {
  readonly #client: Client & Scripts
  readonly #prefix: string
  readonly #lifetimeMs: number
  readonly #sealer: Sealer
  readonly #clock: Clock
  readonly #connectTimeoutMs: number
  /** Where Redis is (no credentials), named in the log line of a failure. */
  readonly #target: string
  /** The connection's last error while it is down (ioredis keeps reconnecting). */
  #connectionError: Error | undefined

  constructor (options: RedisStoreOptions) {
    this.#prefix = options.redis.key_prefix
    this.#lifetimeMs = options.lifetimeMs
    this.#sealer = options.sealer
    this.#clock = options.clock
    this.#connectTimeoutMs = options.redis.connect_timeout_ms
    this.#target = targetOf(options.redis)
    const client = connect(options.redis)
    // a failed connection is reported through the commands it fails, which only say the connection
    // is closed: its own error (ECONNREFUSED, ENOTFOUND, …) is kept to name in their log line
    client.on('error', (err: Error) => { this.#connectionError = err })
    client.on('ready', () => { this.#connectionError = undefined })
    for (const [name, file, numberOfKeys] of SCRIPTS) {
      client.defineCommand(name, { numberOfKeys, lua: readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8') })
    }
    // variable key count: the destination, then every set the id may be in
    client.defineCommand('dfsIndexMove', { lua: readFileSync(new URL('./lua/index_move.lua', import.meta.url), 'utf8') })
    this.#client = client as Client & Scripts
  }

  /** Connects and round-trips a probe key; rejects with the reason when Redis cannot be reached. */
  async open (): Promise<void> {
    const client = this.#client
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        client.connect(),
        new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no connection within ${this.#connectTimeoutMs} ms`)), this.#connectTimeoutMs) })
      ])
      const key = `${this.#prefix}probe:${process.pid}:${Date.now()}`
      await client.set(key, 'ok', 'PX', 10_000)
      if (await client.get(key) !== 'ok') throw new Error('probe key did not round-trip')
      await client.del(key)
    } catch (cause) {
      client.disconnect()
      const reason = this.#connectionError ?? cause
      throw new SidecarError('ERR_STORE_UNAVAILABLE', `Redis cannot be reached: ${(reason as Error).message}`, { cause: reason, target: this.#target })
    } finally {
      clearTimeout(timer)
    }
  }

  async create (grant: DeviceGrant): Promise<boolean> {
    return this.#run(async () => {
      const now = this.#clock.now()
      const ucKey = `${this.#prefix}uc:${grant.user_code}`
      const reserved = await this.#client.set(ucKey, grant.id, 'PX', Math.max(1, grant.expires_at - now), 'NX')
      if (reserved !== 'OK') return false
      const created = await this.#client.dfsCreate(this.#grantKey(grant.id), Math.max(1, grant.expires_at - now + this.#lifetimeMs), ...this.#fields(grant))
      if (created !== 1) {
        await this.#client.del(ucKey)
        return false
      }
      await this.#client.dfsIndexMove(1, this.#indexKey('issued'), grant.id, grant.expires_at, now, this.#lifetimeMs)
      return true
    })
  }

  async findByUserCode (userCode: string, now: EpochMs): Promise<DeviceGrant | undefined> {
    return this.#run(async () => {
      const id = await this.#client.get(`${this.#prefix}uc:${userCode}`)
      if (id === null) return undefined
      const grant = await this.#load(id)
      return isPending(grant, now) ? grant : undefined
    })
  }

  async get (id: GrantId): Promise<DeviceGrant | undefined> {
    return this.#run(() => this.#load(id))
  }

  async beginLogin (id: GrantId, login: LoginTransaction, now: EpochMs): Promise<boolean> {
    return this.#run(async () => await this.#client.dfsBeginLogin(this.#grantKey(id), now, digest(login.state), this.#sealer.seal(JSON.stringify(login))) === 1)
  }

  async settle (id: GrantId, outcome: Settlement, now: EpochMs, expectState?: string): Promise<boolean> {
    return this.#run(async () => {
      const approved = outcome.status === 'approved'
      const userCode = await this.#client.dfsSettle(
        this.#grantKey(id), this.#tokensKey(id), now, outcome.status, expectState === undefined ? '' : digest(expectState),
        approved ? this.#sealer.seal(JSON.stringify(outcome.tokens)) : '',
        approved ? outcome.subject ?? '' : '',
        approved ? '' : outcome.description ?? ''
      )
      if (userCode === null) return false
      await this.#client.del(`${this.#prefix}uc:${userCode}`)
      await this.#move(id, outcome.status, 'issued')
      return true
    })
  }

  async revoke (id: GrantId, reason: string, now: EpochMs): Promise<boolean> {
    return this.#run(async () => {
      const userCode = await this.#client.dfsRevoke(this.#grantKey(id), this.#tokensKey(id), now, reason)
      if (userCode === null) return false
      await this.#client.del(`${this.#prefix}uc:${userCode}`)
      await this.#move(id, 'denied', 'issued', 'approved')
      return true
    })
  }

  async list (filter: GrantFilter, now: EpochMs, limit: number): Promise<DeviceGrant[]> {
    return this.#run(async () => {
      await this.#prune(now)
      const sets: Indexed[] = filter.state === undefined
        ? [...INDEXED]
        : filter.state === 'pending' ? ['issued'] : filter.state === 'expired' ? ['issued', 'approved'] : [filter.state]
      const ids = (await Promise.all(sets.map(set => this.#client.zrevrangebyscore(this.#indexKey(set), '+inf', '-inf')))).flat()
      const out: DeviceGrant[] = []
      // load in chunks, newest-expiring first, until `limit` grants match (each grant's own status decides)
      for (let i = 0; i < ids.length && out.length < limit; i += LOAD_CHUNK) {
        const loaded = await Promise.all(ids.slice(i, i + LOAD_CHUNK).map(id => this.#load(id)))
        for (const grant of loaded) {
          if (grant === undefined) continue
          if (filter.client_id !== undefined && grant.client_id !== filter.client_id) continue
          if (filter.state !== undefined && grantState(grant, now) !== filter.state) continue
          out.push(grant)
        }
      }
      return out.sort(newestFirst).slice(0, limit)
    })
  }

  async countByState (now: EpochMs): Promise<Record<GrantState, number>> {
    return this.#run(async () => {
      await this.#prune(now)
      const c = this.#client
      const [pending, issuedExpired, approved, approvedExpired, denied, redeemed] = await Promise.all([
        c.zcount(this.#indexKey('issued'), `(${now}`, '+inf'),
        c.zcount(this.#indexKey('issued'), '-inf', now),
        c.zcount(this.#indexKey('approved'), `(${now}`, '+inf'),
        c.zcount(this.#indexKey('approved'), '-inf', now),
        c.zcard(this.#indexKey('denied')),
        c.zcard(this.#indexKey('redeemed'))
      ])
      return { pending, approved, denied, redeemed, expired: issuedExpired + approvedExpired }
    })
  }

  poll (id: GrantId, clientId: string, now: EpochMs): Promise<PollResult> {
    // one promise chain, not #run's async layers: the poll is the hot path
    let reply: Promise<string[]>
    try {
      reply = this.#client.dfsPoll(this.#grantKey(id), this.#tokensKey(id), clientId, now, SLOW_DOWN_STEP, MAX_SLOW_DOWN_INTERVAL)
    } catch (cause) {
      return Promise.reject(unavailable(cause, this.#target, this.#connectionError))
    }
    return reply.then(([status, a, b]): PollResult | Promise<PollResult> => {
      switch (status) {
        case 'pending': return PENDING
        case 'slow_down': return { status: 'slow_down', interval: Number(a) }
        case 'denied': return a === '' || a === undefined ? { status: 'denied' } : { status: 'denied', description: a }
        case 'expired': return { status: 'expired' }
        case 'redeemed': return { status: 'redeemed' }
        case 'approved': {
          const tokens = JSON.parse(this.#sealer.open(a!)) as TokenResponse
          const result: PollResult = b === '' || b === undefined ? { status: 'approved', tokens } : { status: 'approved', tokens, subject: b }
          // the index only: the device gets its tokens regardless
          return this.#move(id, 'redeemed', 'approved').then(() => result, () => result)
        }
        default: return { status: 'unknown' }
      }
    }, cause => { throw unavailable(cause, this.#target, this.#connectionError) })
  }

  async bindRefreshToken (tokenDigest: string, binding: RefreshBinding, ttlMs: number): Promise<void> {
    const scopes = binding.scopes === undefined ? [] : [binding.scopes.join(' ')]
    await this.#run(() => this.#client.dfsBindingSet(`${this.#prefix}rt:${tokenDigest}`, Math.max(1, Math.round(ttlMs)), binding.client_id, ...scopes))
  }

  async refreshTokenBinding (tokenDigest: string): Promise<RefreshBinding | undefined> {
    const bound = await this.#run(() => this.#client.dfsBindingGet(`${this.#prefix}rt:${tokenDigest}`))
    if (bound === null || typeof bound[0] !== 'string') return undefined
    const scopes = scopesOf(bound[1])
    return scopes === undefined ? { client_id: bound[0] } : { client_id: bound[0], scopes }
  }

  async unbindRefreshToken (tokenDigest: string): Promise<void> {
    await this.#run(() => this.#client.del(`${this.#prefix}rt:${tokenDigest}`))
  }

  async createFamily (family: string, handleDigest: string, value: RefreshFamily, ttlMs: number): Promise<void> {
    await this.#run(async () => {
      const fields: string[] = ['c', value.client_id, 'h', handleDigest, 'u', this.#sealer.seal(value.upstream_token)]
      if (value.subject !== undefined) fields.push('s', value.subject)
      if (value.scopes !== undefined) fields.push('sc', value.scopes.join(' '))
      await this.#client.dfsCreate(this.#familyKey(family), Math.max(1, Math.round(ttlMs)), ...fields)
    })
  }

  async claimHandle (family: string, handleDigest: string, clientId: string, lease: string, now: EpochMs, leaseMs: number): Promise<HandleClaim> {
    const [status, sealed, subject, scopes] = await this.#run(() => this.#client.dfsFamilyClaim(this.#familyKey(family), handleDigest, clientId, lease, now, leaseMs))
    if (status !== 'claimed' && status !== 'reused') return status === 'busy' ? { status: 'busy' } : { status: 'unknown' }
    return { status, family: this.#openFamily(clientId, sealed!, subject, scopes) }
  }

  async rotateFamily (family: string, lease: string, nextDigest: string, upstreamToken: string, ttlMs: number, graceUntil: EpochMs): Promise<boolean> {
    return await this.#run(() => this.#client.dfsFamilyRotate(this.#familyKey(family), lease, nextDigest, this.#sealer.seal(upstreamToken), Math.max(1, Math.round(ttlMs)), graceUntil)) === 1
  }

  async releaseHandle (family: string, lease: string): Promise<void> {
    await this.#run(() => this.#client.dfsFamilyRelease(this.#familyKey(family), lease))
  }

  async endFamily (family: string, clientId?: string): Promise<RefreshFamily | undefined> {
    const ended = await this.#run(() => this.#client.dfsFamilyEnd(this.#familyKey(family), clientId ?? ''))
    return ended === null ? undefined : this.#openFamily(ended[0]!, ended[1]!, ended[2], ended[3])
  }

  async hit (key: string, windowMs: number, now: EpochMs, add = 1): Promise<{ count: number; resetAt: EpochMs }> {
    return this.#run(async () => {
      const [count, ttl] = await this.#client.dfsHit(`${this.#prefix}ctr:${key}`, add, windowMs)
      return { count: Number(count), resetAt: now + Number(ttl) }
    })
  }

  async attempt (scope: string, address: string, bounds: AttemptBounds, now: EpochMs): Promise<AttemptVerdict> {
    return this.#run(async () => {
      const [own, shared] = this.#attemptKeys(scope, address)
      const [allowed, tightened, left, waitMs] = await this.#client.dfsAttempt(own, shared, bounds.perAddress.max, bounds.perAddress.windowMs, bounds.shared.max, bounds.shared.windowMs, bounds.reachedPerAddress)
      return { allowed: allowed === 1, tightened: tightened === 1, left: Number(left), retryAt: now + Number(waitMs) }
    })
  }

  async refundAttempt (scope: string, address: string, _now: EpochMs): Promise<void> {
    await this.#run(() => this.#client.dfsRefund(...this.#attemptKeys(scope, address)))
  }

  rotateKeys (keys: readonly string[]): void {
    this.#sealer.setKeys(keys)
  }

  async ping (): Promise<void> {
    await this.#run(() => this.#client.ping())
  }

  async close (): Promise<void> {
    await this.#client.quit().catch(() => { this.#client.disconnect() })
  }

  /** Runs Redis commands; any failure becomes ERR_STORE_UNAVAILABLE (never a hang: no offline queue, command timeout). */
  async #run<T> (fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (cause) {
      throw unavailable(cause, this.#target, this.#connectionError)
    }
  }

  /** Moves an id to the index set of its new status (from whichever of `from` holds it). */
  async #move (id: GrantId, to: Indexed, ...from: Indexed[]): Promise<void> {
    await this.#client.dfsIndexMove(1 + from.length, this.#indexKey(to), ...from.map(f => this.#indexKey(f)), id, '', this.#clock.now(), this.#lifetimeMs)
  }

  /** Drops ids whose grants are past their tombstone (their hashes have expired). */
  async #prune (now: EpochMs): Promise<void> {
    await Promise.all(INDEXED.map(set => this.#client.zremrangebyscore(this.#indexKey(set), '-inf', `(${now - this.#lifetimeMs}`)))
  }

  /** An address's counter and its scope's shared one, under one hash tag. */
  #attemptKeys (scope: string, address: string): [string, string] {
    const shared = `${this.#prefix}ctr:{${scope}}`
    return [`${shared}:${address}`, shared]
  }

  #indexKey (status: Indexed): string { return `${this.#prefix}{idx}:${status}` }
  #grantKey (id: GrantId): string { return `${this.#prefix}{${id}}:g` }
  #tokensKey (id: GrantId): string { return `${this.#prefix}{${id}}:t` }
  #familyKey (family: string): string { return `${this.#prefix}{rf:${family}}:f` }

  #openFamily (clientId: string, sealed: string, subject: string | null | undefined, scopes: string | null | undefined): RefreshFamily {
    const family: RefreshFamily = { client_id: clientId, upstream_token: this.#sealer.open(sealed) }
    if (typeof subject === 'string' && subject !== '') family.subject = subject
    const granted = scopesOf(scopes)
    if (granted !== undefined) family.scopes = granted
    return family
  }

  /** A grant as hash fields; see #load for the reverse. */
  #fields (g: DeviceGrant): Array<string | number> {
    const f: Array<string | number> = ['c', g.client_id, 's', g.status, 'sc', g.scopes.join(' '), 'uc', g.user_code, 'ca', g.created_at, 'ea', g.expires_at, 'iv', g.interval, 'ip', g.device_ip]
    if (g.device_user_agent !== undefined) f.push('ua', g.device_user_agent)
    if (g.last_poll_at !== 0) f.push('lp', g.last_poll_at)
    return f
  }

  async #load (id: GrantId): Promise<DeviceGrant | undefined> {
    const h = await this.#client.hgetall(this.#grantKey(id))
    if (h.c === undefined) return undefined
    const grant: DeviceGrant = {
      id,
      client_id: h.c,
      scopes: h.sc === undefined || h.sc === '' ? [] : h.sc.split(' '),
      user_code: h.uc ?? '',
      status: h.s as DeviceGrant['status'],
      created_at: Number(h.ca),
      expires_at: Number(h.ea),
      interval: Number(h.iv),
      last_poll_at: h.lp === undefined ? 0 : Number(h.lp),
      device_ip: h.ip ?? ''
    }
    if (h.ua !== undefined) grant.device_user_agent = h.ua
    if (h.lg !== undefined) grant.login = JSON.parse(this.#sealer.open(h.lg)) as LoginTransaction
    if (h.sub !== undefined) grant.subject = h.sub
    if (h.dn !== undefined) grant.denial = h.dn
    return grant
  }
}

const PENDING: PollResult = Object.freeze({ status: 'pending' })

/** Scopes as a hash field holds them (space-separated, '' for none); undefined when the field is absent (not kept). */
function scopesOf (field: string | null | undefined): string[] | undefined {
  if (typeof field !== 'string') return undefined
  return field === '' ? [] : field.split(' ')
}

/** Any Redis failure as ERR_STORE_UNAVAILABLE (a SidecarError passes as it is), naming where Redis is. */
function unavailable (cause: unknown, target: string, connectionError: Error | undefined): SidecarError {
  if (cause instanceof SidecarError) return cause
  // a command refused while the connection is down: the connection's error is the cause
  return new SidecarError('ERR_STORE_UNAVAILABLE', `Redis: ${(cause as Error).message}`, { cause: connectionError ?? cause, target })
}

function connect (config: RedisConfig): Client {
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    // commands issued in one event-loop turn (polls of many devices) leave in one write and come
    // back in one read: fewer system calls for the sidecar and for Redis
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    commandTimeout: config.command_timeout_ms,
    connectTimeout: config.connect_timeout_ms,
    retryStrategy: times => Math.min(times * 100, 1000),
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined ? {} : { password: config.password }),
    ...(config.tls ? { tls: {} } : {})
  }
  if (config.cluster !== undefined) {
    return new Cluster(config.cluster.nodes.map(hostPort), { lazyConnect: true, enableOfflineQueue: false, enableAutoPipelining: true, redisOptions: common, clusterRetryStrategy: times => Math.min(times * 100, 1000) })
  }
  if (config.sentinel !== undefined) {
    return new Redis({ ...common, name: config.sentinel.name, sentinels: config.sentinel.nodes.map(hostPort), ...(config.sentinel.password === undefined ? {} : { sentinelPassword: config.sentinel.password }) })
  }
  return new Redis(config.url!, common)
}

/** Where the store is, for log lines: the URL without credentials, or the cluster's or sentinels' nodes. */
function targetOf (config: RedisConfig): string {
  if (config.cluster !== undefined) return `redis cluster ${config.cluster.nodes.join(',')}`
  if (config.sentinel !== undefined) return `redis sentinel ${config.sentinel.name} via ${config.sentinel.nodes.join(',')}`
  const url = new URL(config.url!)
  return `${url.protocol}//${url.host}`
}

function hostPort (node: string): { host: string; port: number } {
  const i = node.lastIndexOf(':')
  return { host: node.slice(0, i), port: Number(node.slice(i + 1)) }
}
