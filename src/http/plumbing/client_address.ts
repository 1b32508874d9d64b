/**
 * What the sidecar believes of X-Forwarded-For. A trusted proxy (server.trust_proxy) passes on
 * whatever its own client wrote ahead of the entry it added; an entry that is not an IP address
 * is no address at all, and believing stops there. So the header is cut to the entries after the
 * last one that does not parse as an IP address (node:net isIP; a port and IPv6 brackets are
 * dropped, a zone index is not an address), written back as bare addresses; when nothing is left
 * it is removed, and the peer's address is the client's.
 *
 * Why in place, once, at entry: fastify's req.ip, the fast path's, the X-Forwarded-For the proxy
 * sends on, and through them the limits' keys, the confirm page and the audit trail all read this
 * one header with @fastify/proxy-addr, so they all agree. The FastPath listener applies it to
 * every request it hands to fastify, and to its own requests when their address is first read.
 * The work is one linear pass over a header node has already bounded (its header size limit, 16 KiB
 * by default). Pinned by test/adversarial/forwarded_for_free_text.test.ts.
 */
import type { IncomingMessage } from 'node:http'
import { isIP, isIPv4, isIPv6 } from 'node:net'
import proxyAddr from '@fastify/proxy-addr'

const MAX_PORT = 65_535

/**
 * The believable tail of an X-Forwarded-For value (several fields joined by commas, RFC 9110
 * §5.3): its entries as bare IP addresses, in order, after the last entry that is not one;
 * undefined when none is left. Empty entries are skipped.
 */
export function believableForwardedFor (header: string): string | undefined {
  const entries = header.split(',')
  const believed: string[] = []
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!.trim()
    if (entry === '') continue
    const address = addressOf(entry)
    if (address === undefined) break
    believed.push(address)
  }
  return believed.length === 0 ? undefined : believed.reverse().join(', ')
}

/** server.trust_proxy compiled as @fastify/proxy-addr's trust function (what fastify uses); undefined when it is empty. */
export function trustedPeers (trustProxy: readonly string[]): ((address: string, hop: number) => boolean) | undefined {
  return trustProxy.length === 0 ? undefined : proxyAddr.compile([...trustProxy])
}

/** Replaces the request's X-Forwarded-For with its believable tail (or removes it). */
export function cleanForwardedFor (req: IncomingMessage): void {
  const header = req.headers['x-forwarded-for']
  if (header === undefined) return
  const believed = believableForwardedFor(Array.isArray(header) ? header.join(',') : header)
  if (believed === undefined) delete req.headers['x-forwarded-for']
  else req.headers['x-forwarded-for'] = believed
}

/** `a.b.c.d`, `a.b.c.d:port`, an IPv6 address, `[IPv6]` or `[IPv6]:port`, as the bare address. */
function addressOf (entry: string): string | undefined {
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']')
    if (close === -1 || !isPortOrNothing(entry.slice(close + 1))) return undefined
    const v6 = entry.slice(1, close)
    return isIPv6(v6) && !v6.includes('%') ? v6 : undefined
  }
  const colon = entry.indexOf(':')
  if (colon !== -1 && entry.indexOf(':', colon + 1) === -1) {
    const v4 = entry.slice(0, colon)
    return isIPv4(v4) && isPortOrNothing(entry.slice(colon)) ? v4 : undefined
  }
  return isIP(entry) !== 0 && !entry.includes('%') ? entry : undefined
}

/** '' or ':<port>'. */
function isPortOrNothing (rest: string): boolean {
  if (rest === '') return true
  return /^:\d{1,5}$/.test(rest) && Number(rest.slice(1)) <= MAX_PORT
}
