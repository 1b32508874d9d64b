import t from 'tap'
import { addressKey } from '../src/http/plumbing/address.js'

t.test('limits count IPv4 addresses as they are and IPv6 addresses by their /64', async t => {
  t.equal(addressKey('203.0.113.7'), '203.0.113.7')
  t.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7', 'IPv4-mapped is the IPv4 address')
  t.equal(addressKey('::FFFF:203.0.113.7'), '203.0.113.7')
  t.equal(addressKey('::ffff:cb00:7107'), '203.0.113.7', 'also written in hex')
  t.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  t.equal(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64', 'leading zeros and the host part fold away')
  t.equal(addressKey('2001:db8:1:2::1'), '2001:db8:1:2::/64')
  t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64', 'a compressed network part')
  t.equal(addressKey('2001:db8:1:2::'), '2001:db8:1:2::/64')
  t.equal(addressKey('::1'), '0:0:0:0::/64')
  t.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64', 'a zone is not part of the network')
  t.equal(addressKey('64:ff9b::192.0.2.33'), '64:ff9b:0:0::/64', 'an embedded IPv4 tail')
  t.not(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'), 'another /64 is another key')
  t.equal(addressKey('not an address'), 'not an address')
})
