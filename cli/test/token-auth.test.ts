import assert from 'node:assert/strict';
import { parseChallenge, TokenAuth } from '../src/token-auth.js';

describe('the CLI side of the token flow', () => {
  it('parses a Bearer challenge', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://r.example/oauth2/token",service="georeg",scope="repository:a/b:pull,push"'), {
      realm: 'https://r.example/oauth2/token',
      service: 'georeg',
      scope: 'repository:a/b:pull,push',
    });
    assert.equal(parseChallenge('Basic realm="x"'), undefined);
    assert.equal(parseChallenge(null), undefined);
  });

  it('never sends credentials to another host, or from HTTPS down to plain HTTP', async () => {
    const auth = new TokenAuth({ username: 'u', password: 'p' }, 'https://registry.example:5000');
    await assert.rejects(auth.answer('Bearer realm="https://evil.example/oauth2/token",service="georeg"'), /another host or a downgrade/);
    await assert.rejects(
      auth.answer('Bearer realm="http://registry.example:5000/oauth2/token",service="georeg"'),
      /another host or a downgrade/,
    );
  });

  it('asks each token for every scope challenged so far, so a pull token never replaces a push token', async () => {
    const asked: string[][] = [];
    const auth = new TokenAuth(undefined, 'https://registry.example', async (url) => {
      asked.push(url.searchParams.getAll('scope'));
      return new Response(JSON.stringify({ token: `t${asked.length}` }), { status: 200 });
    });
    const challenge = (scope: string): string => `Bearer realm="https://registry.example/oauth2/token",service="georeg",scope="${scope}"`;
    assert.equal(await auth.answer(challenge('repository:team/app:pull,push')), true);
    assert.equal(await auth.answer(challenge('repository:team/app:pull')), true);
    assert.deepEqual(asked, [['repository:team/app:pull,push'], ['repository:team/app:pull,push', 'repository:team/app:pull']]);
    assert.deepEqual(auth.header(), { Authorization: 'Bearer t2' });
  });
});
