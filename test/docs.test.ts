import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { withReference } from '../src/config/docs.js'
import { parseConfig } from '../src/config/load.js'
import { ConfigError } from '../src/errors.js'

const IDP_GUIDES = 'docs/idps'

t.test('README.md\'s configuration reference is the one generated from the schema (npm run docs)', async t => {
  const readme = readFileSync('README.md', 'utf8')
  t.equal(readme, withReference(readme))
})

t.test('the Dockerfile runs the built bin as non-root with a health check and the documented config path', async t => {
  const docker = readFileSync('Dockerfile', 'utf8')
  t.match(docker, /^FROM node:24[\w.-]* AS build$/m)
  t.match(docker, /npm ci --omit=dev/)
  t.match(docker, /^USER node$/m)
  t.match(docker, /^HEALTHCHECK /m)
  t.match(docker, /\/etc\/device-flow-sidecar\/sidecar\.yaml/)
})

t.test('every YAML block in the IdP guides is a complete, valid configuration', async t => {
  let blocks = 0
  for (const file of readdirSync(IDP_GUIDES).filter(f => f.endsWith('.md')).sort()) {
    const text = readFileSync(join(IDP_GUIDES, file), 'utf8')
    for (const match of text.matchAll(/^```ya?ml\n([\s\S]*?)^```$/gm)) {
      const yaml = match[1] ?? ''
      blocks++
      // only the variables the block names, each long enough for any secret field (≥ 32 characters)
      const env = Object.fromEntries([...yaml.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map(([, name]) => [name, `${name}-set-by-the-docs-test-0123456789`]))
      let problems: readonly string[] = []
      try {
        parseConfig(yaml, env, IDP_GUIDES)
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        problems = err.problems
      }
      t.strictSame(problems, [], `${file}: the YAML block at line ${text.slice(0, match.index).split('\n').length} validates`)
    }
  }
  t.ok(blocks >= 5, `the guides hold a configuration each (${blocks} YAML blocks)`)
})

t.test('the IdP guides index links every guide, and README.md links the index', async t => {
  const index = readFileSync(join(IDP_GUIDES, 'README.md'), 'utf8')
  for (const file of readdirSync(IDP_GUIDES).filter(f => f.endsWith('.md') && f !== 'README.md')) {
    t.match(index, `](${file})`, `docs/idps/README.md links ${file}`)
  }
  t.match(readFileSync('README.md', 'utf8'), '](docs/idps/README.md)')
})
