import t from 'tap'
import { Sealer } from '../src/device/sealing.js'

const OLD = 'old-key-old-key-old-key-old-key-old-key'
const NEW = 'new-key-new-key-new-key-new-key-new-key'

t.test('AES-256-GCM sealing: round trip, fresh IVs, tamper detection, rotation', async t => {
  const sealer = new Sealer([OLD])
  const a = sealer.seal('{"access_token":"AT"}')
  t.match(a, /^v1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/)
  t.not(sealer.seal('{"access_token":"AT"}'), a, 'a fresh IV each time')
  t.notMatch(a, 'AT"')
  t.equal(sealer.open(a), '{"access_token":"AT"}')

  const parts = a.split('.')
  const body = Buffer.from(parts[3]!, 'base64url')
  body[0] = body[0]! ^ 1
  t.throws(() => sealer.open([...parts.slice(0, 3), body.toString('base64url')].join('.')), { code: 'ERR_STORE_UNAVAILABLE' }, 'a flipped bit fails authentication')

  const rotated = new Sealer([NEW, OLD])
  t.equal(rotated.open(a), '{"access_token":"AT"}', 'the retired key still opens old values')
  t.equal(rotated.seal('x').split('.')[1], new Sealer([NEW]).seal('x').split('.')[1], 'the newest key seals')
  t.throws(() => new Sealer([NEW]).open(a), { code: 'ERR_STORE_UNAVAILABLE' }, 'a removed key no longer opens')
})
