import t from 'tap'
import { SessionCookie, withoutSessionCookie } from '../src/http/plumbing/cookie.js'

const OLD = 'old-cookie-key-old-cookie-key-0123456'
const NEW = 'new-cookie-key-new-cookie-key-0123456'

t.test('the page cookie is signed, verifies under rotation, and refuses tampering', async t => {
  const before = new SessionCookie({ keys: [OLD], secure: true, maxAgeSeconds: 600 })
  const setCookie = before.serialize({ csrf: 'c1', grant: 'g1', state: 's1' })
  t.match(setCookie, /^__Host-dfs=[^;]+; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax; Secure$/)
  const header = setCookie.split(';')[0]!
  const rotated = new SessionCookie({ keys: [NEW, OLD], secure: true, maxAgeSeconds: 600 })
  t.strictSame(rotated.parse(`other=1; ${header}`), { csrf: 'c1', grant: 'g1', state: 's1' }, 'a cookie signed with the previous key still verifies')
  t.equal(new SessionCookie({ keys: [NEW], secure: true, maxAgeSeconds: 600 }).parse(header), undefined, 'a retired key no longer verifies')
  const [name, value] = header.split('=')
  const [payload, sig] = value!.split('.')
  const forged = Buffer.from(JSON.stringify({ csrf: 'c1', grant: 'attacker', state: 's1' })).toString('base64url')
  t.equal(before.parse(`${name}=${forged}.${sig}`), undefined, 'a changed payload fails the signature')
  t.equal(before.parse(`${name}=${payload}`), undefined, 'no signature, no session')
  t.equal(new SessionCookie({ keys: [OLD], secure: false, maxAgeSeconds: 600 }).parse(header), undefined, 'plain dfs is another cookie')
})

t.test('the session cookie is removed from what goes to the IdP', async t => {
  t.equal(withoutSessionCookie('a=1; dfs=x; __Host-dfs=y; b=2'), 'a=1; b=2')
  t.equal(withoutSessionCookie('dfs=x'), undefined)
  t.equal(withoutSessionCookie(undefined), undefined)
})
