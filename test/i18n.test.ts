import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { IntlMessageFormat } from 'intl-messageformat'
import { parseConfig } from '../src/config/load.js'
import { ConfigError } from '../src/errors.js'
import { BUNDLED_MESSAGES_DIR, Catalogue } from '../src/ui/i18n.js'
import { Pages } from '../src/ui/pages.js'
import { spawnSidecar } from './helpers/cli.js'

// The catalogues and the pages' set-up: every bundled locale complete and translated, the
// negotiation as RFC 9110 / OIDC ui_locales say, and an operator's broken catalogue or template
// named by file and line at start-up (issue 16).

const BUNDLED = readdirSync(BUNDLED_MESSAGES_DIR).filter(f => f.endsWith('.json')).map(f => f.slice(0, -5)).sort()
const read = (tag: string): Record<string, string> => JSON.parse(readFileSync(join(BUNDLED_MESSAGES_DIR, `${tag}.json`), 'utf8')) as Record<string, string>
const english = read('en')
/** Words that are the same in a language as in English and rightly so (a loanword, a name). */
const SAME_AS_ENGLISH: Readonly<Record<string, readonly string[]>> = {
  de: ['enter.label'],
  fr: ['enter.label'],
  it: ['layout.privacy'],
  nl: ['layout.privacy', 'enter.label']
}
/** Messages with no words of their own (a title pattern). */
const NO_WORDS = ['layout.title_service']

function config (ui: Record<string, unknown> = {}): ReturnType<typeof parseConfig> {
  return parseConfig(JSON.stringify({
    server: { public_url: 'http://127.0.0.1:8080' },
    upstream: { url: 'http://127.0.0.1:9000', client_id: 'sidecar', client_secret: 'sidecar-secret-0123456789' },
    clients: [{ client_id: 'tv', token_endpoint_auth_method: 'none', scopes: ['openid'] }],
    ui
  }), {})
}

function argumentsOf (message: string, tag: string): string[] {
  const names = new Set<string>()
  const walk = (nodes: ReadonlyArray<{ type: number; value?: unknown; options?: Record<string, { value: unknown[] }> }>): void => {
    for (const node of nodes) {
      if (node.type !== 0 && node.type !== 7 && typeof node.value === 'string') names.add(node.value)
      for (const option of Object.values(node.options ?? {})) walk(option.value as Parameters<typeof walk>[0])
    }
  }
  walk(new IntlMessageFormat(message, tag, undefined, { ignoreTag: true }).getAst() as Parameters<typeof walk>[0])
  return [...names].sort()
}

t.test('at least 12 locales are bundled, one right to left', async t => {
  t.ok(BUNDLED.length >= 12, `${BUNDLED.length} locales: ${BUNDLED.join(', ')}`)
  const catalogue = Catalogue.load({ defaultTag: 'en' }, [])
  t.ok([...catalogue.locales.values()].some(l => l.dir === 'rtl'), 'one is written right to left')
  t.equal(catalogue.locales.get('ar')?.dir, 'rtl')
  t.equal(catalogue.locales.get('ja')?.dir, 'ltr')
})

for (const tag of BUNDLED.filter(l => l !== 'en')) {
  t.test(`the ${tag} catalogue: every key, the same arguments, its own plural categories, and translated`, async t => {
    const messages = read(tag)
    t.strictSame(Object.keys(messages), Object.keys(english), 'the same keys, in the same order')
    const categories = new Intl.PluralRules(tag).resolvedOptions().pluralCategories
    for (const [key, message] of Object.entries(messages)) {
      t.strictSame(argumentsOf(message, tag), argumentsOf(english[key]!, 'en'), `${key}: the arguments the pages pass`)
      for (const m of message.matchAll(/\{\s*\w+\s*,\s*plural\s*,((?:[^{}]|\{[^{}]*\})*)\}/g)) {
        const used = [...m[1]!.matchAll(/(?:^|\s|\})\s*(=?\w+)\s*\{/g)].map(u => u[1]!).filter(c => !c.startsWith('='))
        for (const c of used) t.ok(categories.includes(c as Intl.LDMLPluralRule), `${key}: "${c}" is a plural category of ${tag}`)
        t.ok(used.includes('other'), `${key}: has other`)
      }
      if (!(SAME_AS_ENGLISH[tag] ?? []).includes(key) && !NO_WORDS.includes(key)) t.not(message, english[key], `${key} is translated`)
      t.notMatch(message, /['"]/, `${key}: no ASCII quote (an ICU escape character)`)
    }
  })
}

t.test('negotiation: ui_locales wins, then the person\'s pick, then Accept-Language by quality and best fit, else the default', async t => {
  const c = Catalogue.load({ defaultTag: 'en' }, [])
  const tag = (r: Parameters<Catalogue['negotiate']>[0]): string => c.negotiate(r).tag
  t.equal(tag({}), 'en')
  t.equal(tag({ acceptLanguage: 'de-AT,de;q=0.9,en;q=0.5' }), 'de', 'de-AT is served by de')
  t.equal(tag({ acceptLanguage: 'en;q=0.2, ja;q=0.8' }), 'ja', 'by quality, not order')
  t.equal(tag({ acceptLanguage: 'zh-CN' }), 'zh-Hans', 'zh-CN is Simplified Chinese')
  t.equal(tag({ acceptLanguage: 'pt-PT' }), 'pt')
  t.equal(tag({ acceptLanguage: 'xx-nonsense, *' }), 'en', 'nothing served: the default')
  t.equal(tag({ acceptLanguage: 'de', chosen: 'fr' }), 'fr', 'the person\'s pick over the browser\'s')
  t.equal(tag({ acceptLanguage: 'de', chosen: 'fr', uiLocales: 'ar en' }), 'ar', 'ui_locales over both')
  t.equal(tag({ uiLocales: 'tlh ja' }), 'ja', 'the first of ui_locales that is served')
  t.equal(tag({ acceptLanguage: 'tlh, ja;q=0.9' }), 'ja', 'a language none serves is not served by English ahead of the next choice')
  t.equal(tag({ acceptLanguage: 'zh-TW, ko;q=0.5' }), 'ko', 'Traditional Chinese is not served by Simplified')
  t.equal(tag({ uiLocales: '%%%' }), 'en', 'an invalid tag is ignored')
  const flood = Array.from({ length: 10_000 }, (_, i) => `x${i % 26}-${i}`).join(',') + ',de'
  const started = performance.now()
  t.equal(tag({ acceptLanguage: flood }), 'en', 'ten thousand entries: only the first ones are read')
  t.ok(performance.now() - started < 1000, 'and at once')
  t.equal(c.chosen('ja')?.tag, 'ja')
  t.equal(c.chosen('tlh'), undefined, 'a pick that no locale serves is no pick')
})

t.test('ui.locales enables a subset and ui.default_locale is the fallback', async t => {
  const c = Catalogue.load({ enabled: ['de', 'fr'], defaultTag: 'de' }, [])
  t.strictSame([...c.locales.keys()], ['de', 'fr'])
  t.equal(c.negotiate({ acceptLanguage: 'ja' }).tag, 'de')
  const problems: string[] = []
  Catalogue.load({ enabled: ['de', 'tlh'], defaultTag: 'fr' }, problems)
  t.match(problems, [/^\/ui\/locales\/1: no catalogue for "tlh"/, /^\/ui\/default_locale: "fr" is not one of ui.locales/])
})

t.test('ui.messages_dir overrides bundled words and adds a locale; a missing key falls back to the default', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-messages-'))
  writeFileSync(join(dir, 'en.json'), JSON.stringify({ 'enter.title': 'Pair your TV' }))
  writeFileSync(join(dir, 'cy.json'), JSON.stringify({ 'language.name': 'Cymraeg', 'enter.title': 'Cysylltu dyfais' }))
  const c = Catalogue.load({ messagesDir: dir, defaultTag: 'en' }, [])
  t.equal(c.locales.get('en')!.format('enter.title'), 'Pair your TV')
  t.equal(c.locales.get('en')!.format('enter.submit'), 'Continue', 'other keys stay bundled')
  const welsh = c.negotiate({ acceptLanguage: 'cy-GB' })
  t.equal(welsh.tag, 'cy')
  t.equal(welsh.name, 'Cymraeg')
  t.equal(welsh.format('enter.title'), 'Cysylltu dyfais')
  t.equal(welsh.format('enter.submit'), 'Continue', 'a key the operator did not translate: the default locale\'s')
})

t.test('an operator catalogue that cannot be used stops start-up, each problem named by file and key', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-messages-'))
  writeFileSync(join(dir, 'de.json'), JSON.stringify({
    'enter.title': 'Gerät {verbinden',
    'confirm.heading': 'Darf {clientname} sich anmelden?',
    'enter.titel': 'Tippfehler'
  }))
  writeFileSync(join(dir, 'fr.json'), '{ not json')
  writeFileSync(join(dir, 'en_GB.json'), '{}')
  const error = t.throws(() => Pages.load(config({ messages_dir: dir }))) as unknown as ConfigError
  t.ok(error instanceof ConfigError)
  const problems = error.problems.join('\n')
  t.match(problems, `${join(dir, 'de.json')}: "enter.title" is not ICU MessageFormat`)
  t.match(problems, `${join(dir, 'de.json')}: "confirm.heading" uses {clientname}, which the pages do not pass (they pass {client})`)
  t.match(problems, `${join(dir, 'de.json')}: "enter.titel" is not a message the pages use`)
  t.match(problems, `${join(dir, 'fr.json')}: `)
  t.match(problems, `${join(dir, 'en_GB.json')}: the file name must be a BCP 47 language tag`)
})

t.test('an operator template that does not parse or render stops start-up with its file and line', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-templates-'))
  writeFileSync(join(dir, 'confirm.liquid'), `{% layout 'layout' %}{% block content %}\n<h1>{{ client.name }}</h1>\n{% if %}\n{% endblock %}`)
  writeFileSync(join(dir, 'denied.liquid'), `{% layout 'layout' %}{% block content %}\n<p>{{ client.name | shout }}</p>\n{% endblock %}`)
  writeFileSync(join(dir, 'expired.liquid'), `{% layout 'layout' %}{% block content %}\n{% render 'nowhere' %}\n{% endblock %}`)
  writeFileSync(join(dir, 'confrim.liquid'), 'typo')
  const error = t.throws(() => Pages.load(config({ templates_dir: dir }))) as unknown as ConfigError
  const problems = error.problems.join('\n')
  t.match(problems, new RegExp(`${join(dir, 'confirm.liquid')}:3:\\d+: `))
  t.match(problems, new RegExp(`${join(dir, 'denied.liquid')}:2:\\d+: undefined filter: shout`))
  t.match(problems, `${join(dir, 'expired.liquid')}:2:`)
  t.match(problems, `${join(dir, 'confrim.liquid')}: not a page the sidecar renders`)

  const file = join(dir, 'sidecar.yaml')
  writeFileSync(file, `server: { public_url: "http://127.0.0.1:8080" }
upstream: { url: "http://127.0.0.1:9000", client_id: sidecar, client_secret: sidecar-secret-0123456789 }
clients: [{ client_id: tv, token_endpoint_auth_method: none, scopes: [openid] }]
ui: { templates_dir: "${dir}" }
`)
  const cli = spawnSidecar(['--check-config', '--config', file])
  const code = await new Promise<number | null>(resolve => cli.child.once('exit', resolve))
  t.equal(code, 1, '--check-config fails on it')
  t.match(cli.stderr.join('\n'), `${join(dir, 'confirm.liquid')}:3:`)
})

t.test('the built-in pages render in every bundled locale', async t => {
  const pages = Pages.load(config())
  for (const locale of pages.catalogue.locales.values()) {
    const html = pages.errorPage(locale, { key: 'store', retryHref: '/device' }, 'ref-1', { path: '/device' })
    t.match(html, `<html lang="${locale.tag}" dir="${locale.dir}">`)
    t.match(html, locale.format('error.store.title'))
  }
})
