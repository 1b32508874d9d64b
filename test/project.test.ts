import { existsSync, readFileSync } from 'node:fs'
import t from 'tap'

const readme = readFileSync('README.md', 'utf8')
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string; license: string; engines: { node: string } }

t.test('the project files a fresh clone needs are there, and README.md links them', async t => {
  for (const file of ['LICENSE', 'SECURITY.md', 'CHANGELOG.md', 'docs/ARCHITECTURE.md']) {
    t.ok(existsSync(file), `${file} exists`)
    t.ok(readme.includes(`](${file})`), `README.md links ${file}`)
  }
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
