import { isIPv6 } from 'node:net'
import type { Clock } from '../clock.js'
import type { Config, SharedWindow, Window } from '../config/types.js'
import type { DeviceStore } from '../device/store.js'
import { then, type Maybe } from '../maybe.js'

/** An IPv6 address is eight 16-bit groups (RFC 4291 §2.2). */
const IPV6_GROUPS = 8
/** The groups of a /64: the network part of a unicast address (RFC 4291 §2.5.4), what one subscriber gets (RFC 6177). */
const IPV6_NETWORK_GROUPS = 4
/** Group 6 of an IPv4-mapped IPv6 address, ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). */
const IPV4_MAPPED = 0xffff

/**
 * The key a client address counts under in every per-address limit: an IPv4 address as it is; an
 * IPv6 address by its /64 (`2001:db8:1:2::/64`), whatever form it is written in, since one
 * subscriber has all of it; an IPv4-mapped one (`::ffff:192.0.2.1`) as its IPv4 address. Anything
 * that is not an address is kept as it is. Pinned by test/adversarial/ipv6_per_64.test.ts.
 */
export function addressKey (ip: string): string {
  if (!ip.includes(':')) return ip
  const g = ipv6Groups(ip)
  if (g === undefined) return ip
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === IPV4_MAPPED) {
    return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`
  }
  return `${g.slice(0, IPV6_NETWORK_GROUPS).map(n => n.toString(16)).join(':')}::/64`
}

/** The eight groups of an IPv6 address in any text form (`::`, a dotted IPv4 tail, a zone), or undefined when it is not one. */
function ipv6Groups (ip: string): number[] | undefined {
  const zone = ip.indexOf('%') // fe80::1%eth0: the zone names a link of this host, not a network
  const text = zone === -1 ? ip : ip.slice(0, zone)
  if (!isIPv6(text)) return undefined
  const gap = text.indexOf('::')
  if (gap === -1) return groupsOf(text)
  const head = groupsOf(text.slice(0, gap))
  const tail = groupsOf(text.slice(gap + 2))
  return [...head, ...new Array<number>(IPV6_GROUPS - head.length - tail.length).fill(0), ...tail]
}

function groupsOf (text: string): number[] {
  const out: number[] = []
  if (text === '') return out
  for (const part of text.split(':')) {
    if (part.includes('.')) {
      const [a, b, c, d] = part.split('.').map(Number) as [number, number, number, number]
      out.push((a << 8) | b, (c << 8) | d)
    } else {
      out.push(parseInt(part, 16))
    }
  }
  return out
}

/** The limiter's answer on one attempt (see DeviceStore.attempt). */
export interface AttemptAnswer {
  /** true: counted, go ahead; false: refused (429), nothing counted. */
  allowed: boolean
  /** The shared bound is reached, so the address is held to its tightened allowance. */
  tightened: boolean
  /** The address may make no further attempt now (an allowed one was its last). */
  exhausted: boolean
  /** Seconds until it may try again, when exhausted. */
  retryAfter: number
}

/** A per-address limit and the shared one that tightens it (limits.*). */
export interface AttemptLimits {
  perAddress: Window
  shared: SharedWindow
}

/**
 * Fixed-window rate limits (limits.*), counted in the store so that on Redis they hold across
 * replicas; every per-address key is the address's addressKey. Each check is one atomic
 * count-and-decide in the store, never a read and a later write. `limits` is read on every call,
 * so a reloaded config applies at once.
 */
export class Limiter {
  readonly #store: DeviceStore
  readonly #clock: Clock
  readonly #limits: () => Config['limits']

  constructor (store: DeviceStore, clock: Clock, limits: () => Config['limits']) {
    this.#store = store
    this.#clock = clock
    this.#limits = limits
  }

  /** Counts one request from `ip` under `name`; resolves the seconds to wait when it is over the limit. */
  take (name: string, ip: string, window: (l: Config['limits']) => Window): Maybe<number | undefined> {
    const limits = this.#limits()
    if (!limits.enabled) return undefined
    const w = window(limits)
    const now = this.#clock.now()
    return then(this.#store.hit(`rl:${name}:${addressKey(ip)}`, w.window_seconds * 1000, now), ({ count, resetAt }) =>
      count > w.max ? seconds(resetAt, now) : undefined)
  }

  /**
   * One attempt from `ip` under `scope`, counted before the caller's work: allowed while the
   * address is under its limit, and once the shared bound is reached while it is under the
   * tightened allowance. undefined when limits are off.
   */
  attempt (scope: string, ip: string, limits: (l: Config['limits']) => AttemptLimits): Maybe<AttemptAnswer | undefined> {
    const all = this.#limits()
    if (!all.enabled) return undefined
    const { perAddress, shared } = limits(all)
    const now = this.#clock.now()
    const bounds = {
      perAddress: { max: perAddress.max, windowMs: perAddress.window_seconds * 1000 },
      shared: { max: shared.max, windowMs: shared.window_seconds * 1000 },
      reachedPerAddress: shared.per_address_when_reached
    }
    return then(this.#store.attempt(scope, addressKey(ip), bounds, now), v =>
      ({ allowed: v.allowed, tightened: v.tightened, exhausted: !v.allowed || v.left === 0, retryAfter: seconds(v.retryAt, now) }))
  }

  /** Gives back an allowed attempt that does not count (a right user code). */
  refund (scope: string, ip: string): Maybe<void> {
    if (!this.#limits().enabled) return undefined
    return this.#store.refundAttempt(scope, addressKey(ip), this.#clock.now())
  }
}

/** Whole seconds from `now` to `at`, at least 1 (Retry-After). */
function seconds (at: number, now: number): number {
  return Math.max(1, Math.ceil((at - now) / 1000))
}
