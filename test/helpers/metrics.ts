import { request } from 'undici'

/** Scrapes /metrics over HTTP and parses the text format: `name{a="x",b="y"}` → value. */
export async function scrape (adminUrl: string): Promise<Map<string, number>> {
  const res = await request(`${adminUrl}/metrics`)
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`)
  const out = new Map<string, number>()
  for (const line of (await res.body.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${line}`)
    const labels = m[3] === undefined || m[3] === '' ? '' : `{${[...m[3].matchAll(/(\w+)="((?:[^"\\\\]|\\\\.)*)"/g)].map(x => `${x[1]}=${x[2]}`).sort().join(',')}}`
    out.set(`${m[1]}${labels}`, Number(m[4]))
  }
  return out
}

/** The value of one sample (0 when absent); labels as `{a=x,b=y}` sorted by name. */
export function sample (metrics: Map<string, number>, key: string): number {
  return metrics.get(key) ?? 0
}
