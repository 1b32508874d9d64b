import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import t from 'tap'

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }

// the built bin, as the Docker image and `npx device-flow-sidecar` run it (npm test builds first);
// each run loads the whole app (a few seconds on a loaded machine), hence the generous bound
const run = (...args: string[]) => spawnSync(process.execPath, ['dist/src/main.js', ...args], { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '' } })

t.test('--version prints package.json\'s version and exits 0, without a config', async t => {
  const r = run('--version')
  t.equal(r.stderr, '')
  t.equal(r.stdout, `${pkg.version}\n`)
  t.equal(r.status, 0)
})

t.test('--help names the options, the environment variables it reads and the signals it handles', async t => {
  const r = run('--help')
  t.equal(r.stderr, '')
  t.equal(r.status, 0)
  for (const word of ['--config FILE', '--check-config', '--version', '--help', 'SIDECAR_CONFIG', '${VAR}', 'SIGTERM', 'SIGINT', 'SIGHUP']) {
    t.ok(r.stdout.includes(word), `help names ${word}`)
  }
  t.match(r.stdout, /^usage: device-flow-sidecar /)
})

t.test('an unknown option is refused with the usage, exit 2', async t => {
  const r = run('--verbose')
  t.equal(r.stdout, '')
  t.match(r.stderr, /Unknown option '--verbose'/)
  t.match(r.stderr, /usage: device-flow-sidecar /)
  t.equal(r.status, 2)
})

t.test('without --config or SIDECAR_CONFIG it says so, exit 2', async t => {
  const r = run()
  t.equal(r.stdout, '')
  t.match(r.stderr, /^no configuration file given \(--config FILE or SIDECAR_CONFIG\)\n/)
  t.equal(r.status, 2)
})
