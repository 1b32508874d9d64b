/**
 * The pages a person sees, rendered from LiquidJS templates: the built-in ones (templates/) and any
 * the operator puts in `ui.templates_dir` under the same file name. LiquidJS because a template
 * can only show what it is given — no code runs in it, no file outside the templates is read, no
 * property a value does not own is reached (ownPropertyOnly) — and every `{{ }}` is HTML-escaped
 * (outputEscape), in an operator's template as in ours. Every template is parsed, and every page
 * rendered once, at start-up: a broken one stops start-up with its file and line.
 *
 * The variables each page gets are exactly what the built-ins use; docs/templates.md lists them.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Liquid, type Template } from 'liquidjs'
import type { Config } from '../config/types.js'
import { ConfigError, SidecarError } from '../errors.js'
import { Assets } from './assets.js'
import { Catalogue, type Locale, type MessageValues } from './i18n.js'

const BUILT_IN_DIR = fileURLToPath(new URL('./templates', import.meta.url))
const STYLESHEET = fileURLToPath(new URL('./style.css', import.meta.url))
const EXTENSION = '.liquid'

/** The pages the sidecar renders; each is a template file `<name>.liquid`. */
export const PAGE_NAMES = ['enter_code', 'confirm', 'approved', 'denied', 'already_connected', 'expired', 'error'] as const
export type PageName = typeof PAGE_NAMES[number]
/** Templates that are not pages: the shell every page renders into. */
const SHELLS = ['layout'] as const
/** Bounds on one render, so a template loop cannot hold the process (LiquidJS limits). */
const RENDER_LIMIT_MS = 1_000
const MEMORY_LIMIT = 16 * 1024 * 1024

/** What an error page says, by catalogue key: `error.<key>.title` and `.body` unless `title`/`body` name other keys. */
export interface ErrorText {
  readonly key: string
  readonly title?: string
  readonly body?: string
  readonly values?: MessageValues
  /** Where to start again, when it makes sense. */
  readonly retryHref?: string
}

/** Where a page is being shown, for the language switch's links: its path and query. */
export interface Here { readonly path: string; readonly query?: Readonly<Record<string, string>> }

/** The sidecar's pages: templates, languages, brand and the assets they link to. */
export class Pages {
  readonly catalogue: Catalogue
  readonly assets: Assets
  readonly #config: Config
  readonly #liquid: Liquid
  readonly #parsed: ReadonlyMap<PageName, Template[]>

  private constructor (config: Config, catalogue: Catalogue, assets: Assets, liquid: Liquid, parsed: Map<PageName, Template[]>) {
    this.#config = config
    this.catalogue = catalogue
    this.assets = assets
    this.#liquid = liquid
    this.#parsed = parsed
  }

  /** Loads templates, catalogues and assets for `config`; throws ConfigError naming every problem (file and line). */
  static load (config: Config): Pages {
    const problems: string[] = []
    const ui = config.ui
    const catalogue = Catalogue.load({ messagesDir: ui.messages_dir, enabled: ui.locales, defaultTag: ui.default_locale }, problems)
    const sources = new Map<string, { source: string; file: string }>()
    for (const name of [...PAGE_NAMES, ...SHELLS]) sources.set(`${name}${EXTENSION}`, { source: readFileSync(join(BUILT_IN_DIR, `${name}${EXTENSION}`), 'utf8'), file: join(BUILT_IN_DIR, `${name}${EXTENSION}`) })
    if (ui.templates_dir !== undefined) readOperatorTemplates(ui.templates_dir, sources, problems)

    const liquid = new Liquid({
      templates: Object.fromEntries([...sources].map(([name, { source }]) => [name, source])),
      extname: EXTENSION,
      outputEscape: 'escape',
      strictFilters: true,
      ownPropertyOnly: true,
      cache: true,
      renderLimit: RENDER_LIMIT_MS,
      memoryLimit: MEMORY_LIMIT
    })
    liquid.registerFilter('t', function (this: { context: { environments: object } }, key: unknown, ...args: unknown[]) {
      const locale = (this.context.environments as { locale?: { format?: unknown } }).locale as Locale
      return locale.format(String(key), keywordValues(args))
    })
    const parsed = new Map<PageName, Template[]>()
    for (const [name, { source, file }] of sources) {
      try {
        const templates = liquid.parse(source, name)
        const page = basename(name, EXTENSION)
        if ((PAGE_NAMES as readonly string[]).includes(page)) parsed.set(page as PageName, templates)
      } catch (err) {
        problems.push(templateProblem(file, err))
      }
    }

    let assets: Assets | undefined
    try {
      assets = Assets.load(config)
      assets.add('style.css', 'text/css; charset=utf-8', Buffer.from(stylesheet(ui.accent_color)))
    } catch (err) {
      // a logo the config loader checked that changed on disk since
      if (err instanceof SidecarError && err.code === 'ERR_CONFIG_INVALID') problems.push(err.message)
      else throw err
    }
    if (assets === undefined) throw new ConfigError(problems)
    const pages = new Pages(config, catalogue, assets, liquid, parsed)
    // every page once, in the default locale: a template that parses but cannot render (a missing
    // partial, an unknown filter, a loop past the limits) stops start-up here, not on a person's phone
    for (const name of PAGE_NAMES) {
      if (!parsed.has(name)) continue // its parse error is named already
      try {
        pages.render(name, catalogue.default, SAMPLE[name], { path: config.device_flow_settings.verification_path })
      } catch (err) {
        problems.push(templateProblem(sources.get(`${name}${EXTENSION}`)!.file, err))
      }
    }
    if (problems.length > 0) throw new ConfigError(problems)
    return pages
  }

  /** The page `name` in `locale`, with the variables every page gets and `data`. */
  render (name: PageName, locale: Locale, data: Record<string, unknown>, here: Here): string {
    const ui = this.#config.ui
    const logo = this.assets.url('logo')
    const scope = {
      ...data,
      locale: { tag: locale.tag, dir: locale.dir, name: locale.name, format: locale.format },
      languages: this.catalogue.locales.size < 2 ? [] : [...this.catalogue.locales.values()].map(l => ({ tag: l.tag, name: l.name, href: languageHref(here, l.tag), current: l.tag === locale.tag })),
      service: { name: ui.service_name, logo_url: logo, links: ui.links },
      assets: { stylesheet: this.assets.url('style.css'), favicon: this.assets.url('favicon') },
      verification_path: this.#config.device_flow_settings.verification_path
    }
    return this.#liquid.renderSync(this.#parsed.get(name)!, scope) as string
  }

  /** An error page: its title and words from the catalogue (`error.<key>.title`, `error.<key>.body`). */
  errorPage (locale: Locale, error: ErrorText, reference: string, here: Here): string {
    return this.render('error', locale, {
      error: {
        title: locale.format(error.title ?? `error.${error.key}.title`),
        message: locale.format(error.body ?? `error.${error.key}.body`, error.values),
        reference,
        ...(error.retryHref === undefined ? {} : { retry_href: error.retryHref })
      }
    }, here)
  }

  /** The locale for a request: its ui_locales, the person's pick (page cookie), else its Accept-Language (Catalogue.negotiate). */
  localeFor (headers: { 'accept-language'?: string | undefined }, asked: { uiLocales?: string | undefined; chosen?: string | undefined } = {}): Locale {
    return this.catalogue.negotiate({ ...asked, acceptLanguage: headers['accept-language'] })
  }

  /** A scope in the person's words: ui.scope_descriptions, the catalogue's, else "this app asks for: <name>". */
  scopeWords (scope: string, locale: Locale): string {
    const configured = this.#config.ui.scope_descriptions[scope]
    if (configured !== undefined) {
      const words = configured[locale.tag] ?? configured[this.catalogue.default.tag] ?? configured.en
      if (words !== undefined) return words
    }
    try {
      return locale.format(`scope.${scope}`)
    } catch {
      return locale.format('scope.unknown', { scope })
    }
  }
}

/** `here` in `tag`: the same path and query with ui_locales set (a plain link: no script). */
function languageHref (here: Here, tag: string): string {
  const query = new URLSearchParams({ ...here.query })
  query.set('ui_locales', tag)
  return `${here.path}?${query.toString()}`
}

/** The `key: value` arguments of a filter call (LiquidJS passes them as [key, value] pairs). */
function keywordValues (args: unknown[]): MessageValues {
  const values: MessageValues = {}
  for (const arg of args) {
    if (Array.isArray(arg) && typeof arg[0] === 'string') {
      const value: unknown = arg[1]
      values[arg[0]] = typeof value === 'number' ? value : String(value ?? '')
    }
  }
  return values
}

function readOperatorTemplates (dir: string, sources: Map<string, { source: string; file: string }>, problems: string[]): void {
  let names: string[]
  try {
    names = readdirSync(dir).filter(name => name.endsWith(EXTENSION)).sort()
  } catch (err) {
    problems.push(`/ui/templates_dir: ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    return
  }
  const known = [...PAGE_NAMES, ...SHELLS] as readonly string[]
  for (const name of names) {
    const file = join(dir, name)
    const page = basename(name, EXTENSION)
    if (!known.includes(page) && !page.startsWith('_')) {
      problems.push(`${file}: not a page the sidecar renders (${known.join(', ')}); name partials _<name>${EXTENSION}`)
      continue
    }
    try {
      sources.set(name, { source: readFileSync(file, 'utf8'), file })
    } catch (err) {
      problems.push(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
}

/** "file:line: message" from a LiquidJS error (its message ends in "file:…, line:N, col:M"). */
function templateProblem (file: string, err: unknown): string {
  const message = (err as Error).message
  const at = /, file:.*?, line:(\d+), col:(\d+)$/.exec(message)
  return at === null ? `${file}: ${message}` : `${file}:${at[1]}:${at[2]}: ${message.slice(0, at.index)}`
}

/** The page backgrounds of style.css (--bg, --card) in each scheme, which accent-coloured text sits on. */
const LIGHT_BACKGROUNDS = ['#f6f8fa', '#ffffff']
const DARK_BACKGROUNDS = ['#0d1117', '#151b23']
/** WCAG 2.2 1.4.3: the contrast of normal-size text (links, a button's label). */
const TEXT_CONTRAST = 4.5

/**
 * The built-in stylesheet, with the operator's accent colour. Links are accent-coloured text on
 * the page and a button is accent-coloured under its label, so each scheme gets the accent itself
 * when it reads at 4.5:1 on that scheme's backgrounds, else the nearest shade that does (darker in
 * light, lighter in dark: a yellow brand is a dark gold link, not an unreadable one), and the
 * label colour (white or near-black) that reads best on it.
 */
function stylesheet (accent: string | undefined): string {
  const css = readFileSync(STYLESHEET, 'utf8')
  if (accent === undefined) return css
  const rgb = hexRgb(accent)
  const light = readableShade(rgb, [0, 0, 0], 0, LIGHT_BACKGROUNDS.map(hexRgb))
  // dark keeps its lightened look (55% accent) when that reads, and lightens further when not
  const dark = readableShade(rgb, [255, 255, 255], 0.45, DARK_BACKGROUNDS.map(hexRgb))
  const lightHex = light === rgb ? accent : rgbHex(light)
  return `${css}:root{--accent:${lightHex};--on-accent:${labelOn(light, '#fff', '#000')}}\n@media (prefers-color-scheme:dark){:root{--accent:${rgbHex(dark)};--on-accent:${labelOn(dark, '#fff', '#0d1117')}}}\n`
}

type Rgb = readonly [number, number, number]

/** `accent` mixed towards `toward` by `from` or more (in steps of 1%), until it reads on every background. */
function readableShade (accent: Rgb, toward: Rgb, from: number, backgrounds: readonly Rgb[]): Rgb {
  for (let step = Math.round(from * 100); step <= 100; step++) {
    const shade = step === 0 ? accent : accent.map((c, i) => Math.round(c + (toward[i]! - c) * step / 100)) as unknown as Rgb
    if (backgrounds.every(bg => contrast(shade, bg) >= TEXT_CONTRAST)) return shade
  }
  return toward
}

/** Of two label colours, the one that reads better on `background`. */
function labelOn (background: Rgb, a: string, b: string): string {
  return contrast(hexRgb(a), background) >= contrast(hexRgb(b), background) ? a : b
}

/** WCAG 2.2 contrast ratio. */
function contrast (x: Rgb, y: Rgb): number {
  const [hi, lo] = [luminance(x), luminance(y)].sort((m, n) => n - m) as [number, number]
  return (hi + 0.05) / (lo + 0.05)
}

/** Relative luminance (WCAG 2.2). */
function luminance (rgb: Rgb): number {
  const [r, g, b] = rgb.map(v => {
    const c = v / 255
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
  }) as [number, number, number]
  return 0.2126 * r + 0.7152 * g + 0.0722 * b
}

/** `#rgb` or `#rrggbb` (the config's accent_color pattern) as numbers. */
function hexRgb (hex: string): Rgb {
  const full = hex.length === 4 ? hex.slice(1).split('').map(c => c + c).join('') : hex.slice(1)
  return [0, 2, 4].map(i => parseInt(full.slice(i, i + 2), 16)) as unknown as Rgb
}

function rgbHex (rgb: Rgb): string {
  return `#${rgb.map(c => c.toString(16).padStart(2, '0')).join('')}`
}

const SAMPLE_CLIENT = { client_id: 'tv', name: 'Living Room TV' }
/** What each page is rendered with at start-up (the shapes verification.ts passes). */
const SAMPLE: Readonly<Record<PageName, Record<string, unknown>>> = {
  enter_code: { form: { action: '/', csrf: 'x' }, code: { value: '', placeholder: 'XXXX-XXXX', inputmode: 'text', length: 8, numeric: false }, error: 'wrong_code' },
  confirm: { form: { action: '/', csrf: 'x' }, user_code: 'WDJB-MJHT', client: SAMPLE_CLIENT, scopes: [{ name: 'openid', description: 'openid' }], requested: { iso: new Date(0).toISOString(), ago: 'now' }, device: { ip: '192.0.2.1', same_network: false }, sign_in: { kind: 'login', idp: 'idp.example' } },
  approved: { client: SAMPLE_CLIENT, account: 'alice@example.com' },
  denied: { client: SAMPLE_CLIENT },
  already_connected: { client: SAMPLE_CLIENT },
  expired: {},
  error: { error: { title: 'Error', message: 'Error', reference: 'r', retry_href: '/' } }
}
