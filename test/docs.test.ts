import { readFileSync } from 'node:fs'
import t from 'tap'
import { withReference } from '../src/config/docs.js'

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
