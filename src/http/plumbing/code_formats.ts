import { flowSettingsFor } from '../../config/client_flow.js'
import type { Config } from '../../config/types.js'
import type { UserCodeFormat } from '../../device/codes.js'
import type { EpochMs } from '../../oauth/types.js'

interface Issued { format: UserCodeFormat; lifetimeMs: number }

/**
 * The user-code formats the verification page accepts: every client's (charset, length), each
 * once. Per-client settings change live on reload; a format a reload took away stays accepted
 * until the codes issued in it have run out (the longest lifetime it was issued with), so a code
 * on a screen keeps working. Bounded by the number of clients. Pinned by
 * test/per_client_settings.test.ts.
 */
export class CodeFormats {
  #current: Map<string, Issued>
  #list: UserCodeFormat[]
  readonly #retired = new Map<string, { format: UserCodeFormat; until: EpochMs }>()

  constructor (config: Pick<Config, 'device_flow_settings' | 'clients'>) {
    this.#current = formatsOf(config)
    this.#list = [...this.#current.values()].map(i => i.format)
  }

  /** After a reload: `next`'s formats, and those only `previous` had for as long as their codes live. */
  update (previous: Pick<Config, 'device_flow_settings' | 'clients'>, next: Pick<Config, 'device_flow_settings' | 'clients'>, now: EpochMs): void {
    const before = formatsOf(previous)
    this.#current = formatsOf(next)
    this.#list = [...this.#current.values()].map(i => i.format)
    for (const [key, issued] of before) {
      if (this.#current.has(key)) continue
      const until = Math.max(this.#retired.get(key)?.until ?? 0, now + issued.lifetimeMs)
      this.#retired.set(key, { format: issued.format, until })
    }
    for (const key of this.#current.keys()) this.#retired.delete(key)
  }

  /** The formats a typed code is tried in: the configured ones first, then those retired whose codes may still live. */
  list (now: EpochMs): readonly UserCodeFormat[] {
    if (this.#retired.size === 0) return this.#list
    for (const [key, r] of this.#retired) if (now >= r.until) this.#retired.delete(key)
    return [...this.#list, ...[...this.#retired.values()].map(r => r.format)]
  }
}

function formatsOf (config: Pick<Config, 'device_flow_settings' | 'clients'>): Map<string, Issued> {
  const formats = new Map<string, Issued>()
  for (const client of config.clients) {
    const flow = flowSettingsFor(config.device_flow_settings, client)
    const key = `${flow.device_flow_usercode_length}:${flow.device_flow_usercode_charset}`
    const lifetimeMs = flow.device_flow_codelifetime_seconds * 1000
    const known = formats.get(key)
    if (known === undefined) formats.set(key, { format: { charset: flow.device_flow_usercode_charset, length: flow.device_flow_usercode_length }, lifetimeMs })
    else known.lifetimeMs = Math.max(known.lifetimeMs, lifetimeMs)
  }
  return formats
}
