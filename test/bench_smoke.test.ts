import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { redisMissing } from './helpers/redis.js'

// `npm run bench -- --smoke` so the benchmark cannot rot: every scenario runs briefly and answers
// only what it should. No timing is asserted here; numbers come from `npm run bench`.
t.test('the benchmark runs end to end (smoke)', async t => {
  const run = spawnSync(process.execPath, ['dist/bench/run.js', '--smoke'], { encoding: 'utf8', timeout: 240_000 })
  t.equal(run.status, 0, run.stderr.slice(-2000))
  const result = JSON.parse(readFileSync('bench/results/smoke.json', 'utf8'))
  const expected = redisMissing() === undefined ? ['A', 'B', 'C', 'D', 'E', 'F'] : ['A', 'B', 'C', 'E', 'F']
  t.strictSame(result.summary.map((s: { scenario: string }) => s.scenario), expected)
  for (const s of result.summary) {
    const total = Object.values(s.statuses as Record<string, number>).reduce((a, b) => a + b, 0)
    t.ok(total > 0, `${s.scenario} answered ${total} requests`)
    t.strictSame(Object.keys(s.statuses), [s.scenario === 'E' ? '200' : '400'], `${s.scenario} answered only the expected status`)
    t.ok(s.valid, `${s.scenario} is a valid run`)
  }
  t.equal(result.memory.length, 1)
  t.ok(result.memory[0].bytesPerGrant > 0, 'the memory run measured something')
})
