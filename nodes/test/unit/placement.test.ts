import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config.js';
import { Placement } from '../../src/http/placement.js';

describe('network.placement: client ranges to regions', () => {
  const regions = ['eu', 'us', 'ap'];

  it('places a client by the most specific block holding it, IPv4-mapped addresses too', () => {
    const p = Placement.parse('10.0.0.0/8=eu, 10.2.0.0/16=us,10.2.3.4=ap,fd00::/8=ap', regions) as Placement;
    assert.equal(p.regionOf('10.9.9.9'), 'eu');
    assert.equal(p.regionOf('10.2.9.9'), 'us');
    assert.equal(p.regionOf('::ffff:10.2.9.9'), 'us');
    assert.equal(p.regionOf('10.2.3.4'), 'ap');
    assert.equal(p.regionOf('fd12::1'), 'ap');
    assert.equal(p.regionOf('192.168.1.1'), undefined);
    assert.equal(p.regionOf(undefined), undefined);
  });

  it('is off when empty', () => {
    assert.equal(Placement.parse('', regions), undefined);
    assert.equal(Placement.parse(' , ', regions), undefined);
  });

  it('refuses a bad entry or an unknown region, naming it', () => {
    const refused = (spec: string, message: RegExp): void => {
      assert.throws(
        () => Placement.parse(spec, regions),
        (e: unknown) => e instanceof ConfigError && message.test(e.message),
      );
    };
    refused('10.0.0.0/8', /"10.0.0.0\/8" is not CIDR=region/);
    refused('10.0.0.0/8=mars', /names region "mars", not one of eu, us, ap/);
    refused('10.0.0.0/33=eu', /prefix length must be 0 to 32/);
    refused('banana=eu', /not an IPv4 or IPv6 address/);
  });
});
