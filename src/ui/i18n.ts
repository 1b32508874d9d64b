/**
 * The verification pages' languages: message catalogues in ICU MessageFormat (intl-messageformat,
 * plural and select rules from CLDR through Intl, none by hand), the locale negotiated from what
 * the person asked for, and the locale's direction, relative times and durations from Intl.
 *
 * Catalogues are flat JSON files, `<locale>.json`, key → message: the bundled ones (messages/)
 * and the operator's (`ui.messages_dir`), whose keys replace the bundled ones of that locale or
 * make a new locale. Every message is compiled once, at start-up; a message missing in a locale
 * is the default locale's, then English.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { match } from '@formatjs/intl-localematcher'
import { IntlMessageFormat } from 'intl-messageformat'
import Negotiator from 'negotiator'

/** The bundled catalogues, next to this module (copied into dist by the build). */
export const BUNDLED_MESSAGES_DIR = fileURLToPath(new URL('./messages', import.meta.url))
/** The catalogue every other is checked against: its keys are the keys, its arguments the arguments. */
export const SOURCE_LOCALE = 'en'
/** Accept-Language entries and ui_locales tags read at most (a header of ten thousand costs nothing more). */
const MAX_REQUESTED = 16
/** Scripts written right to left (ISO 15924), for `dir`. */
const RTL_SCRIPTS = new Set(['Arab', 'Hebr', 'Thaa', 'Syrc', 'Nkoo', 'Adlm', 'Rohg', 'Mand', 'Samr'])

export type MessageValues = Record<string, string | number>

/** A locale ready to render: its tag, direction, name in itself, and its compiled messages. */
export interface Locale {
  readonly tag: string
  readonly dir: 'ltr' | 'rtl'
  /** The language's own name for itself (Deutsch, 日本語), for the language switch. */
  readonly name: string
  format(key: string, values?: MessageValues): string
  /** "2 minutes ago", "vor 2 Minuten" (Intl.RelativeTimeFormat). */
  ago(ms: number): string
  /** "5 minutes", "5 Minuten" (Intl.NumberFormat units). */
  duration(seconds: number): string
}

interface Source { readonly file: string; readonly messages: Readonly<Record<string, string>> }

/** The enabled locales and how one is chosen for a request. */
export class Catalogue {
  readonly locales: ReadonlyMap<string, Locale>
  readonly default: Locale

  private constructor (locales: Map<string, Locale>, fallback: Locale) {
    this.locales = locales
    this.default = fallback
  }

  /**
   * Loads and compiles the bundled catalogues and the operator's; `enabled` (ui.locales) picks a
   * subset, `defaultTag` (ui.default_locale) the fallback. Every problem goes into `problems`,
   * named by file and key (and by config path for the settings).
   */
  static load (options: { messagesDir?: string | undefined; enabled?: readonly string[] | undefined; defaultTag: string }, problems: string[]): Catalogue {
    const sources = new Map<string, Source[]>()
    for (const dir of [BUNDLED_MESSAGES_DIR, options.messagesDir]) {
      if (dir === undefined) continue
      for (const [tag, source] of readDir(dir, problems)) sources.set(tag, [...(sources.get(tag) ?? []), source])
    }
    const english = sources.get(SOURCE_LOCALE)?.[0]
    if (english === undefined) throw new Error(`the bundled ${SOURCE_LOCALE}.json catalogue is missing from ${BUNDLED_MESSAGES_DIR}`)
    const argumentsOf = new Map(Object.entries(english.messages).map(([key, message]) => [key, argumentNames(message, SOURCE_LOCALE)]))

    const compiled = new Map<string, Map<string, IntlMessageFormat>>()
    for (const [tag, layers] of sources) {
      const messages = new Map<string, IntlMessageFormat>()
      for (const { file, messages: raw } of layers) {
        for (const [key, message] of Object.entries(raw)) {
          const wanted = argumentsOf.get(key)
          if (wanted === undefined) {
            problems.push(`${file}: "${key}" is not a message the pages use`)
            continue
          }
          try {
            const format = new IntlMessageFormat(message, tag, undefined, { ignoreTag: true })
            const extra = [...argumentNames(message, tag)].filter(name => !wanted.has(name))
            if (extra.length > 0) problems.push(`${file}: "${key}" uses {${extra.join('}, {')}}, which the pages do not pass (they pass ${wanted.size === 0 ? 'nothing' : `{${[...wanted].join('}, {')}}`})`)
            else messages.set(key, format)
          } catch (err) {
            problems.push(`${file}: "${key}" is not ICU MessageFormat: ${(err as Error).message}`)
          }
        }
      }
      compiled.set(tag, messages)
    }

    const available = [...compiled.keys()]
    const enabled = options.enabled ?? available
    enabled.forEach((tag, i) => {
      if (!compiled.has(tag)) problems.push(`/ui/locales/${i}: no catalogue for "${tag}" (bundled: ${available.sort().join(', ')}; or add ${tag}.json to ui.messages_dir)`)
    })
    if (!compiled.has(options.defaultTag)) problems.push(`/ui/default_locale: no catalogue for "${options.defaultTag}"`)
    else if (!enabled.includes(options.defaultTag)) problems.push(`/ui/default_locale: "${options.defaultTag}" is not one of ui.locales`)

    const englishMessages = compiled.get(SOURCE_LOCALE)!
    const defaultMessages = compiled.get(options.defaultTag) ?? englishMessages
    const locales = new Map<string, Locale>()
    for (const tag of enabled) {
      const own = compiled.get(tag)
      if (own !== undefined) locales.set(tag, makeLocale(tag, [own, defaultMessages, englishMessages]))
    }
    const fallback = locales.get(options.defaultTag) ?? makeLocale(SOURCE_LOCALE, [englishMessages])
    return new Catalogue(locales, fallback)
  }

  /**
   * The locale for a request: the first of `uiLocales` (the OIDC ui_locales parameter, a
   * space-separated list, which wins), the person's earlier choice, and Accept-Language that an
   * enabled locale serves (best fit: de-AT is served by de), else the default.
   */
  negotiate (request: { uiLocales?: string | undefined; chosen?: string | undefined; acceptLanguage?: string | undefined }): Locale {
    const requested = [
      ...tags(request.uiLocales?.split(' ') ?? []),
      ...tags(request.chosen === undefined ? [] : [request.chosen]),
      ...tags(request.acceptLanguage === undefined ? [] : new Negotiator({ headers: { 'accept-language': request.acceptLanguage.slice(0, 1024) } }).languages())
    ]
    return this.#served(requested) ?? this.default
  }

  /** The enabled locale `ui_locales` names, if any (the language switch's links, remembered in the page cookie). */
  chosen (uiLocales: string | undefined): Locale | undefined {
    return uiLocales === undefined ? undefined : this.#served(tags(uiLocales.split(' ')))
  }

  /**
   * The enabled locale that serves the first of `requested` any does, by CLDR best fit (de-AT by
   * de, zh-CN by zh-Hans, pt-PT by pt) within the same language: best fit alone would serve a
   * language it has nothing for by English, ahead of the person's next choice.
   */
  #served (requested: readonly string[]): Locale | undefined {
    const available = [...this.locales.keys()]
    for (const tag of requested) {
      const found = match([tag], available, '', { algorithm: 'best fit' })
      if (found !== '' && new Intl.Locale(found).language === new Intl.Locale(tag).language) return this.locales.get(found)
    }
    return undefined
  }
}

function readDir (dir: string, problems: string[]): Array<[string, Source]> {
  let names: string[]
  try {
    names = readdirSync(dir).filter(name => name.endsWith('.json')).sort()
  } catch (err) {
    problems.push(`${dir}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    return []
  }
  const out: Array<[string, Source]> = []
  for (const name of names) {
    const file = join(dir, name)
    const tag = basename(name, '.json')
    let canonical: string | undefined
    try {
      canonical = Intl.getCanonicalLocales(tag)[0]
    } catch {}
    if (canonical !== tag) {
      problems.push(`${file}: the file name must be a BCP 47 language tag${canonical === undefined ? '' : ` (did you mean ${canonical}.json?)`}`)
      continue
    }
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'))
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some(v => typeof v !== 'string')) {
        problems.push(`${file}: must be a JSON object of message keys to strings`)
        continue
      }
      out.push([tag, { file, messages: parsed as Record<string, string> }])
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message}`)
    }
  }
  return out
}

/** Valid, canonical tags among `list`, at most MAX_REQUESTED ("*" and nonsense dropped). */
function tags (list: readonly string[]): string[] {
  const out: string[] = []
  for (const raw of list.slice(0, MAX_REQUESTED)) {
    if (raw === '' || raw === '*') continue
    try {
      out.push(...Intl.getCanonicalLocales(raw))
    } catch {}
  }
  return out
}

/** The names of the arguments a message uses, nested ones included. */
function argumentNames (message: string, tag: string): Set<string> {
  const names = new Set<string>()
  const walk = (nodes: ReadonlyArray<{ type: number; value?: unknown; options?: Record<string, { value: unknown[] }>; children?: unknown[] }>): void => {
    for (const node of nodes) {
      // literal (0) and pound (7) carry no argument name; tags (8) are off (ignoreTag)
      if (node.type !== 0 && node.type !== 7 && typeof node.value === 'string') names.add(node.value)
      for (const option of Object.values(node.options ?? {})) walk(option.value as Parameters<typeof walk>[0])
    }
  }
  walk(new IntlMessageFormat(message, tag, undefined, { ignoreTag: true }).getAst() as Parameters<typeof walk>[0])
  return names
}

function isolated (values: MessageValues): MessageValues {
  const out: MessageValues = {}
  for (const [name, value] of Object.entries(values)) out[name] = typeof value === 'string' ? `\u2068${value}\u2069` : value
  return out
}

function makeLocale (tag: string, layers: ReadonlyArray<ReadonlyMap<string, IntlMessageFormat>>): Locale {
  const intl = new Intl.Locale(tag)
  const dir = RTL_SCRIPTS.has(intl.maximize().script ?? '') ? 'rtl' : 'ltr'
  const relative = new Intl.RelativeTimeFormat(tag, { numeric: 'auto' })
  const units = {
    second: new Intl.NumberFormat(tag, { style: 'unit', unit: 'second', unitDisplay: 'long' }),
    minute: new Intl.NumberFormat(tag, { style: 'unit', unit: 'minute', unitDisplay: 'long' }),
    hour: new Intl.NumberFormat(tag, { style: 'unit', unit: 'hour', unitDisplay: 'long' })
  }
  // the catalogue's own name for its language (checked by its translator), else CLDR's
  const own = layers[0]!.get('language.name')?.format()
  const name = typeof own === 'string' ? own : new Intl.DisplayNames([tag], { type: 'language' }).of(tag) ?? tag
  return {
    tag,
    dir,
    name,
    format (key, values) {
      // in a right-to-left page, a Latin name or address inside a sentence is isolated (FSI … PDI,
      // Unicode bidi), so its direction does not reorder the words around it
      const shown = dir === 'rtl' && values !== undefined ? isolated(values) : values
      for (const layer of layers) {
        const message = layer.get(key)
        if (message !== undefined) return String(message.format(shown))
      }
      throw new Error(`no message "${key}"`)
    },
    ago (ms) {
      const seconds = Math.max(0, Math.floor(ms / 1000))
      if (seconds < 60) return relative.format(-seconds, 'second')
      if (seconds < 3600) return relative.format(-Math.floor(seconds / 60), 'minute')
      return relative.format(-Math.floor(seconds / 3600), 'hour')
    },
    duration (seconds) {
      if (seconds < 120) return units.second.format(seconds)
      if (seconds < 7200) return units.minute.format(Math.floor(seconds / 60))
      return units.hour.format(Math.floor(seconds / 3600))
    }
  }
}
