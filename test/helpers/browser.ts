import { request } from 'undici'

/** One page as the walker saw it. */
export interface Page {
  url: string
  status: number
  headers: Record<string, string | string[] | undefined>
  html: string
}

interface Form { action: string; method: string; fields: Record<string, string>; buttons: Array<{ name: string; value: string }> }

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"' }
const unescape = (s: string): string => s.replace(/&(amp|lt|gt|quot|#\d+);/g, m => ENTITIES[m] ?? String.fromCharCode(Number(m.slice(2, -1))))

/**
 * A cookie-jar walker that follows redirects and submits forms, like a person with a browser
 * (openid-client's tap/server.mjs /drive): used where Chromium would only make tests slower.
 */
export class Browser {
  readonly cookies = new Map<string, string>()
  readonly visited: string[] = []
  /** When set, a redirect to a matching URL is not followed: the page returned is that redirect. */
  stopBefore: ((url: string) => boolean) | undefined
  readonly #ip: string | undefined

  /** `ip`: an X-Forwarded-For the sidecar believes (loopback is a trusted proxy in tests). */
  constructor (ip?: string) { this.#ip = ip }

  async get (url: string): Promise<Page> {
    return this.#follow(url, 'GET')
  }

  /** Submits the page's form (the one holding `button` when given), overriding `fields`. */
  async submit (page: Page, fields: Record<string, string> = {}, button?: { name: string; value: string }): Promise<Page> {
    const forms = parseForms(page.html)
    const form = forms.find(f => button === undefined || f.buttons.some(b => b.name === button.name && b.value === button.value)) ?? forms[0]
    if (form === undefined) throw new Error(`no form on ${page.url} (${page.status}): ${page.html.slice(0, 300)}`)
    const body = new URLSearchParams({ ...form.fields, ...fields })
    if (button !== undefined) body.set(button.name, button.value)
    const target = new URL(form.action || page.url, page.url).toString()
    return this.#follow(target, form.method.toUpperCase(), body.toString())
  }

  /** The value of the form field `name` on the page. */
  static field (page: Page, name: string): string | undefined {
    for (const f of parseForms(page.html)) if (f.fields[name] !== undefined) return f.fields[name]
    return undefined
  }

  async #follow (url: string, method: string, body?: string): Promise<Page> {
    let current = url
    let m = method
    let b = body
    for (let hops = 0; hops < 20; hops++) {
      this.visited.push(current)
      const headers: Record<string, string> = { accept: 'text/html' }
      if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
      if (b !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
      if (this.#ip !== undefined) headers['x-forwarded-for'] = this.#ip
      const res = await request(current, { method: m as 'GET', headers, body: b })
      const setCookie = res.headers['set-cookie']
      for (const c of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) {
        const [pair] = c.split(';')
        const eq = pair!.indexOf('=')
        const name = pair!.slice(0, eq).trim()
        const value = pair!.slice(eq + 1).trim()
        if (/max-age=0/i.test(c) || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name)
        else this.cookies.set(name, value)
      }
      const text = await res.body.text()
      const location = res.headers.location
      if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
        const next = new URL(location, current).toString()
        if (this.stopBefore?.(next) === true) return { url: next, status: res.statusCode, headers: res.headers, html: text }
        current = next
        m = 'GET'
        b = undefined
        continue
      }
      return { url: current, status: res.statusCode, headers: res.headers, html: text }
    }
    throw new Error(`too many redirects from ${url}`)
  }
}

function parseForms (html: string): Form[] {
  const forms: Form[] = []
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = match[1]!
    const inner = match[2]!
    const action = unescape(/action="([^"]*)"/i.exec(attrs)?.[1] ?? '')
    const method = /method="([^"]*)"/i.exec(attrs)?.[1] ?? 'GET'
    const fields: Record<string, string> = {}
    for (const input of inner.matchAll(/<input\b([^>]*)>/gi)) {
      const name = /name="([^"]*)"/i.exec(input[1]!)?.[1]
      if (name === undefined) continue
      fields[name] = unescape(/value="([^"]*)"/i.exec(input[1]!)?.[1] ?? '')
    }
    const buttons = [...inner.matchAll(/<button\b([^>]*)>/gi)].map(btn => ({
      name: /name="([^"]*)"/i.exec(btn[1]!)?.[1] ?? '',
      value: /value="([^"]*)"/i.exec(btn[1]!)?.[1] ?? ''
    }))
    forms.push({ action, method, fields, buttons })
  }
  return forms
}

/**
 * A person at the verification page: opens the link, continues, approves (or denies) on the
 * confirm page, then signs in and consents at the IdP's development pages. Returns every page.
 */
export async function approveOnPhone (browser: Browser, verificationUriComplete: string, options: { login?: string; choice?: 'approve' | 'deny' } = {}): Promise<{ enter: Page; confirm: Page; final: Page }> {
  const enter = await browser.get(verificationUriComplete)
  const confirm = await browser.submit(enter)
  let page = await browser.submit(confirm, {}, { name: 'action', value: options.choice ?? 'approve' })
  for (let steps = 0; steps < 5 && page.url.includes('/interaction/'); steps++) {
    const prompt = Browser.field(page, 'prompt')
    page = await browser.submit(page, prompt === 'login' ? { login: options.login ?? 'alice', password: 'any' } : {})
  }
  return { enter, confirm, final: page }
}
