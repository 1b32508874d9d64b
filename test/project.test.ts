import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import t from 'tap'

// npm's own range semantics (semver is fastify's dependency; it ships no types of its own)
const semver = createRequire(import.meta.url)('semver') as { satisfies: (version: string, range: string) => boolean }

const readme = readFileSync('README.md', 'utf8')
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string; license: string; engines: { node: string }; overrides?: Record<string, unknown> }
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { version?: string; engines?: unknown }> }
/** The oldest release of each Node.js line package.json's engines accepts. */
const SUPPORTED_NODE = ['20.19.0', '22.12.0', '24.0.0']

t.test('the project files a fresh clone needs are there, and README.md links them', async t => {
  for (const file of ['LICENSE', 'SECURITY.md', 'CHANGELOG.md', 'docs/ARCHITECTURE.md']) {
    t.ok(existsSync(file), `${file} exists`)
    t.ok(readme.includes(`](${file})`), `README.md links ${file}`)
  }
})

t.test('the Docker image carries the LICENSE (Apache-2.0 §4(a): recipients get a copy)', async t => {
  t.match(readFileSync('Dockerfile', 'utf8'), /^COPY (?:\S+ )*LICENSE (?:\S+ )*\.\/$/m)
})

t.test('LICENSE is the Apache License 2.0 that package.json names', async t => {
  t.equal(pkg.license, 'Apache-2.0')
  const license = readFileSync('LICENSE', 'utf8')
  t.match(license, /^\s*Apache License\n\s*Version 2\.0, January 2004\n\s*http:\/\/www\.apache\.org\/licenses\/\n/)
  t.match(license, /TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION/)
  t.match(license, /END OF TERMS AND CONDITIONS/)
  for (let section = 1; section <= 9; section++) t.match(license, new RegExp(`\\n\\s*${section}\\. [A-Z]`), `section ${section}`)
})

t.test('CHANGELOG.md has an Unreleased section and one for package.json\'s version', async t => {
  const changelog = readFileSync('CHANGELOG.md', 'utf8')
  t.match(changelog, /^## \[Unreleased\]$/m)
  t.match(changelog, new RegExp(`^## \\[${pkg.version.replaceAll('.', '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'))
})

t.test('README.md and package.json name the same supported Node.js runtimes', async t => {
  t.equal(pkg.engines.node, '^20.19.0 || >=22.12.0')
  t.match(readme, /Node\.js 20 \(20\.19 or newer\), 22 \(22\.12 or newer\) and 24/)
})

t.test('CI runs the suite a second time on the Node.js line the Docker image runs', async t => {
  const ci = readFileSync('.ci/run', 'utf8')
  const image = /^FROM node:(\d+)-/m.exec(readFileSync('Dockerfile', 'utf8'))?.[1]
  t.equal(/^NODE_LTS=\$\{NODE_LTS:-(\d+)\}$/m.exec(ci)?.[1], image)
  t.match(ci, /^\(npm ci && npm test\) 2>&1 \| tee "\$out"$/m, 'the README\'s command, on the machine\'s Node.js')
  t.match(ci, /npx -y -p "node@\$\{NODE_LTS\}" -- .*npm test/, 'the same suite under the npm package node@NODE_LTS')
  for (const version of SUPPORTED_NODE) t.ok(semver.satisfies(version, pkg.engines.node), `engines accepts ${version}`)
  t.notOk(semver.satisfies('21.7.0', pkg.engines.node), 'an odd, never-LTS line is not claimed')
})

// npm ci warns EBADENGINE for an installed package whose engines refuses the running Node.js
// (cookie 2, light-my-request's for fastify's inject, wants Node.js >=22: package.json overrides it with cookie 1.1.1)
t.test('every locked package accepts every Node.js release package.json says it runs on', async t => {
  for (const [path, entry] of Object.entries(lock.packages)) {
    const range = (entry.engines as { node?: unknown } | undefined)?.node
    if (path === '' || typeof range !== 'string') continue
    for (const version of SUPPORTED_NODE) t.ok(semver.satisfies(version, range), `${path.replace(/^.*node_modules\//, '')}@${entry.version ?? '?'} (engines ${range}) accepts Node.js ${version}`)
  }
})

t.test('README.md links nothing outside the repository but the web', async t => {
  for (const [, target] of readme.matchAll(/\]\(([^)]+)\)/g)) {
    if (target === undefined || /^https?:\/\//.test(target) || target.startsWith('#')) continue
    t.ok(existsSync(target.split('#')[0] ?? ''), `${target} is in the repository`)
  }
})

t.test('README.md describes the session cookie the code sets', async t => {
  t.match(readme, /`__Host-dfs`/)
  t.notMatch(readme, /__Secure-/)
})
