import t from 'tap'
import { formatUserCode, generateDeviceCode, generateUserCode, grantId, normalizeUserCode } from '../src/device/codes.js'

const BASE20 = 'BCDFGHJKLMNPQRSTVWXZ'

t.test('device codes carry 256 bits and are keyed by their SHA-256', async t => {
  const code = generateDeviceCode()
  t.equal(Buffer.from(code, 'base64url').length, 32)
  t.not(generateDeviceCode(), code)
  t.equal(grantId(code), grantId(code))
  t.not(grantId(code), code)
  t.match(grantId(code), /^[A-Za-z0-9_-]{43}$/)
})

t.test('user codes are uniform over the charset (no modulo bias)', async t => {
  // 20 does not divide 256: a naive byte % 20 would give the first 16 characters 13/256 and the rest 12/256
  // bounds a fair draw crosses about once in a million runs (a 0.1% bound failed CI by chance),
  // while the bias above would give a chi-square near 2000 and B about 7800 over Z
  const counts = new Map<string, number>()
  const n = 2_000_000
  for (const ch of generateUserCode(BASE20, n)) counts.set(ch, (counts.get(ch) ?? 0) + 1)
  t.equal(counts.size, 20)
  const expected = n / 20
  const chi2 = [...counts.values()].reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0)
  t.ok(chi2 < 65, `chi-square ${chi2.toFixed(1)} below the 1e-6 critical value for 19 degrees of freedom`)
  t.ok(Math.abs(counts.get('B')! - counts.get('Z')!) < expected * 0.05, 'B and Z within 5% (11 standard deviations of a fair draw)')
})

t.test('normalizes what people type: case, dashes, spaces', async t => {
  t.equal(normalizeUserCode('wdjb-mjht', BASE20, 8), 'WDJBMJHT')
  t.equal(normalizeUserCode(' WDJB MJHT ', BASE20, 8), 'WDJBMJHT')
  t.equal(normalizeUserCode('wd–jb—mj ht', BASE20, 8), 'WDJBMJHT')
  t.equal(normalizeUserCode('WDJB-MJH', BASE20, 8), undefined, 'too short')
  t.equal(normalizeUserCode('WDJB-MJHA', BASE20, 8), undefined, 'a vowel is not in BASE20')
})

t.test('formats codes in groups', async t => {
  t.equal(formatUserCode('WDJBMJHT'), 'WDJB-MJHT')
  t.equal(formatUserCode('123456789'), '123-456-789')
  t.equal(formatUserCode('ABCDEFGHJK'), 'ABCD-EFGH-JK')
  t.equal(formatUserCode('ABCD'), 'ABCD')
})
