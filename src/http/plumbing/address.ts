import { isIPv6 } from 'node:net'

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

/**
 * Whether two client addresses are on the same network as a person would say it: one IPv4 /24
 * (a home or office network behind one router), one IPv6 /64 (one subscriber), an IPv4-mapped
 * IPv6 address as its IPv4 one. The confirm page says it, since a device on another network than
 * the person approving it is the shape of device-code phishing (RFC 8628 §5.4).
 */
export function sameNetwork (a: string, b: string): boolean {
  return networkOf(a) === networkOf(b)
}

function networkOf (ip: string): string {
  const key = addressKey(ip)
  if (key.includes(':')) return key
  const octets = key.split('.')
  return octets.length === 4 ? octets.slice(0, 3).join('.') : key
}
