import { isIPv4, isIPv6 } from 'node:net'

/**
 * The key a client address is counted under by the sidecar's limits: an IPv4 address as it is
 * (also when written IPv4-mapped, `::ffff:192.0.2.1`), an IPv6 address by its /64 — the smallest
 * network one subscriber is given (RFC 6177), so an attacker cannot multiply its allowance by
 * walking the 2^64 addresses of its own network. Anything else is returned as it is.
 */
export function addressKey (address: string): string {
  if (isIPv4(address)) return address
  if (!isIPv6(address)) return address
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`
}

/** The eight 16-bit groups of a valid IPv6 address, each without leading zeros. */
function ipv6Groups (address: string): string[] {
  const zone = address.indexOf('%')
  let text = zone === -1 ? address : address.slice(0, zone)
  // an embedded IPv4 tail (::ffff:0:a.b.c.d and the like) as two groups
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return groups.map(g => parseInt(g, 16).toString(16))
}
