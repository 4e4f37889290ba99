import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, defaultConfig, envName, loadConfig, parseListen, printableConfig } from '../../src/config.js';

describe('config', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'georeg-config-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('defaults to a single local node on 127.0.0.1:5000 with data in ./data', () => {
    assert.deepEqual(loadConfig(), defaultConfig);
    assert.equal(defaultConfig.listen, '127.0.0.1:5000');
    assert.equal(defaultConfig.data, './data');
  });

  it('layers file < environment < flags', () => {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ listen: '0.0.0.0:6000', log: { level: 'warn' }, gc: { graceSeconds: 60 } }));
    const c = loadConfig({
      file,
      env: { GEOREG_LOG_LEVEL: 'debug', GEOREG_LOG_ACCESS: 'false', GEOREG_GC_GRACE_SECONDS: '120' },
      overrides: { listen: '127.0.0.1:7000' },
    });
    assert.equal(c.listen, '127.0.0.1:7000');
    assert.equal(c.log.level, 'debug');
    assert.equal(c.log.access, false);
    assert.equal(c.gc.graceSeconds, 120);
    assert.equal(envName('uploads.maxAgeSeconds'), 'GEOREG_UPLOADS_MAX_AGE_SECONDS');
  });

  it('rejects unknown keys, bad types, bad enums and bad listen addresses', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ storage: { drvier: 'fs' } }));
    assert.throws(
      () => loadConfig({ file }),
      (e: Error) => e instanceof ConfigError && /unknown setting storage.drvier/.test(e.message),
    );
    assert.throws(() => loadConfig({ env: { GEOREG_GC_GRACE_SECONDS: 'soon' } }), ConfigError);
    assert.throws(() => loadConfig({ env: { GEOREG_STORAGE_DRIVER: 'gcs' } }), /one of fs, memory, azure, s3/);
    assert.throws(() => loadConfig({ overrides: { listen: 'localhost' } }), /HOST:PORT/);
    assert.throws(() => loadConfig({ file: join(dir, 'missing.json') }), /cannot read config file/);
    assert.deepEqual(parseListen('[::1]:5000'), { host: '::1', port: 5000 });
    assert.throws(() => loadConfig({ env: { GEOREG_PUBLIC_URL: 'registry.example' } }), /publicUrl must be http\(s\):\/\/HOST/);
    assert.throws(() => loadConfig({ env: { GEOREG_PUBLIC_URL: 'https://registry.example/v2/?x' } }), /publicUrl/);
    assert.equal(loadConfig({ env: { GEOREG_PUBLIC_URL: 'https://registry.example:8443/' } }).publicUrl, 'https://registry.example:8443/');
    assert.throws(
      () => loadConfig({ env: { GEOREG_REPLICATION_REDIRECT_TTL_SECONDS: '0' } }),
      /redirectTtlSeconds must be a whole number of at least 1/,
    );
    assert.throws(() => loadConfig({ env: { GEOREG_REPLICATION_CONCURRENCY: '2.5' } }), /replication.concurrency must be a whole number/);
    assert.throws(() => loadConfig({ env: { GEOREG_AUTH_PUBLIC_URL: 'https://r.example' } }), /now publicUrl \(GEOREG_PUBLIC_URL\)/);
  });

  it('refuses an unknown key at any depth with its path, an empty object included', () => {
    const refused = (doc: unknown, message: RegExp): void => {
      const file = join(dir, 'nested.json');
      writeFileSync(file, JSON.stringify(doc));
      assert.throws(
        () => loadConfig({ file }),
        (e: Error) => e instanceof ConfigError && message.test(e.message),
        JSON.stringify(doc),
      );
    };
    refused({ lgo: {} }, /unknown setting lgo$/);
    refused({ lgo: { level: 'debug' } }, /unknown setting lgo$/);
    refused({ log: { level: 'info', acess: { on: true } } }, /unknown setting log\.acess$/);
    refused({ auth: { enabled: true, extra: {} } }, /unknown setting auth\.extra$/);
    refused({ auth: { enabled: {} } }, /auth\.enabled must be true or false/);
    refused({ listen: {} }, /listen must be a non-empty string/);
    refused({ auth: 'on' }, /auth must be an object/);
    refused([], /config must be an object/);
    const file = join(dir, 'sections.json');
    writeFileSync(file, JSON.stringify({ auth: {}, replication: { listen: '' } }));
    assert.equal(loadConfig({ file }).auth.enabled, false, 'an empty known section is fine');
  });

  it("bounds this region's event stream: 7 days and no byte bound by default, whole seconds and at least 1 MiB when set", () => {
    assert.equal(defaultConfig.replication.streamMaxAgeSeconds, 7 * 24 * 3600);
    assert.equal(defaultConfig.replication.streamMaxBytes, 0);
    const c = loadConfig({ env: { GEOREG_REPLICATION_STREAM_MAX_AGE_SECONDS: '3', GEOREG_REPLICATION_STREAM_MAX_BYTES: '1073741824' } });
    assert.equal(c.replication.streamMaxAgeSeconds, 3);
    assert.equal(c.replication.streamMaxBytes, 1024 ** 3);
    assert.equal(loadConfig({ env: { GEOREG_REPLICATION_STREAM_MAX_BYTES: '1048576' } }).replication.streamMaxBytes, 1024 * 1024);
    for (const age of ['0', '1.5'])
      assert.throws(
        () => loadConfig({ env: { GEOREG_REPLICATION_STREAM_MAX_AGE_SECONDS: age } }),
        /replication\.streamMaxAgeSeconds must be a whole number of at least 1/,
      );
    for (const bytes of ['1000', '1048575', '2097152.5'])
      assert.throws(
        () => loadConfig({ env: { GEOREG_REPLICATION_STREAM_MAX_BYTES: bytes } }),
        /replication\.streamMaxBytes must be 0 \(no bound\) or a whole number of at least 1 MiB/,
      );
    assert.throws(() => loadConfig({ env: { GEOREG_REPLICATION_STREAM_MAX_BYTES: '-1' } }), /streamMaxBytes must be a non-negative number/);
  });

  it('takes storage.azure from a file or GEOREG_STORAGE_AZURE_* and checks it only for the azure driver', () => {
    const key = { GEOREG_STORAGE_AZURE_URL: 'https://acct.blob.core.windows.net', GEOREG_STORAGE_AZURE_ACCOUNT_NAME: 'acct' };
    const azure = { ...key, GEOREG_STORAGE_DRIVER: 'azure', GEOREG_STORAGE_AZURE_ACCOUNT_KEY_FILE: '/run/secrets/key' };
    const c = loadConfig({ env: { ...azure, GEOREG_STORAGE_AZURE_REDIRECT: 'true', GEOREG_STORAGE_AZURE_CONTAINER: 'blobs-eu' } });
    assert.deepEqual(c.storage.azure, {
      url: 'https://acct.blob.core.windows.net',
      accountName: 'acct',
      accountKeyFile: '/run/secrets/key',
      connectionStringFile: '',
      container: 'blobs-eu',
      redirect: true,
      redirectTtlSeconds: 300,
    });
    const file = join(dir, 'azure.json');
    writeFileSync(file, JSON.stringify({ storage: { driver: 'azure', azure: { connectionStringFile: '/run/secrets/cs' } } }));
    assert.equal(loadConfig({ file }).storage.azure.connectionStringFile, '/run/secrets/cs');
    assert.equal(loadConfig({ env: key }).storage.driver, 'fs', 'settings of a driver not chosen are not checked');

    const refused = (env: Record<string, string>, message: RegExp): void => {
      assert.throws(() => loadConfig({ env: { GEOREG_STORAGE_DRIVER: 'azure', ...env } }), message, JSON.stringify(env));
    };
    refused({}, /storage\.driver azure needs storage\.azure\.connectionStringFile, or storage\.azure\.url, accountName and accountKeyFile/);
    refused(key, /needs storage\.azure\.connectionStringFile, or/);
    refused({ ...azure, GEOREG_STORAGE_AZURE_CONNECTION_STRING_FILE: '/run/secrets/cs' }, /one of the two/);
    refused({ ...azure, GEOREG_STORAGE_AZURE_URL: 'acct.blob.core.windows.net' }, /storage\.azure\.url must be http\(s\):\/\/HOST/);
    refused({ ...azure, GEOREG_STORAGE_AZURE_URL: 'https://acct.blob.core.windows.net/?sv=x' }, /storage\.azure\.url/);
    for (const container of ['ab', 'Blobs', 'a--b', '-ab', 'a_b', 'x'.repeat(64)]) {
      refused({ ...azure, GEOREG_STORAGE_AZURE_CONTAINER: container }, /storage\.azure\.container must be 3-63 lowercase/);
    }
    refused({ ...azure, GEOREG_STORAGE_AZURE_REDIRECT_TTL_SECONDS: '0' }, /storage\.azure\.redirectTtlSeconds must be a whole number/);
    refused({ ...azure, GEOREG_STORAGE_AZURE_REDIRECT: 'yes' }, /storage\.azure\.redirect must be true or false/);
  });

  it('takes storage.s3 from a file or GEOREG_STORAGE_S3_* and checks it only for the s3 driver', () => {
    const s3 = { GEOREG_STORAGE_DRIVER: 's3', GEOREG_STORAGE_S3_BUCKET: 'georeg-eu', GEOREG_STORAGE_S3_REGION: 'eu-west-1' };
    const keys = {
      GEOREG_STORAGE_S3_ACCESS_KEY_ID_FILE: '/run/secrets/id',
      GEOREG_STORAGE_S3_SECRET_ACCESS_KEY_FILE: '/run/secrets/secret',
    };
    const c = loadConfig({
      env: {
        ...s3,
        ...keys,
        GEOREG_STORAGE_S3_ENDPOINT: 'http://127.0.0.1:9000',
        GEOREG_STORAGE_S3_FORCE_PATH_STYLE: 'true',
        GEOREG_STORAGE_S3_PREFIX: 'georeg/eu/',
        GEOREG_STORAGE_S3_REDIRECT: 'true',
        GEOREG_STORAGE_S3_REDIRECT_TTL_SECONDS: '60',
      },
    });
    assert.deepEqual(c.storage.s3, {
      bucket: 'georeg-eu',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      accessKeyIdFile: '/run/secrets/id',
      secretAccessKeyFile: '/run/secrets/secret',
      prefix: 'georeg/eu/',
      redirect: true,
      redirectTtlSeconds: 60,
    });
    assert.deepEqual(
      loadConfig({ env: s3 }).storage.s3,
      { ...defaultConfig.storage.s3, bucket: 'georeg-eu', region: 'eu-west-1' },
      "no key files: the SDK's chain",
    );
    const file = join(dir, 's3.json');
    writeFileSync(file, JSON.stringify({ storage: { driver: 's3', s3: { bucket: 'my.bucket-1', region: 'us-east-1' } } }));
    assert.equal(loadConfig({ file }).storage.s3.bucket, 'my.bucket-1');
    assert.equal(
      loadConfig({ env: { GEOREG_STORAGE_S3_PREFIX: '/x' } }).storage.driver,
      'fs',
      'settings of a driver not chosen are not checked',
    );

    const refused = (env: Record<string, string>, message: RegExp): void => {
      assert.throws(
        () => loadConfig({ env: { ...s3, ...env } }),
        (e: unknown) => e instanceof ConfigError && message.test(e.message),
        JSON.stringify(env),
      );
    };
    for (const bucket of ['', 'ab', 'Georeg', 'geo_reg', '-georeg', 'georeg-', 'x'.repeat(64)]) {
      refused({ GEOREG_STORAGE_S3_BUCKET: bucket }, /storage\.s3\.bucket must be an S3 bucket name/);
    }
    refused({ GEOREG_STORAGE_S3_REGION: '' }, /storage\.s3\.region must be a region such as eu-west-1/);
    refused({ GEOREG_STORAGE_S3_REGION: 'EU West' }, /storage\.s3\.region must be/);
    for (const endpoint of ['127.0.0.1:9000', 'http://key:secret@127.0.0.1:9000', 'https://s3.example.com/?X-Amz-Signature=x']) {
      refused({ GEOREG_STORAGE_S3_ENDPOINT: endpoint }, /storage\.s3\.endpoint must be http\(s\):\/\/HOST\[:PORT\]\[\/PATH\]/);
    }
    refused(
      { GEOREG_STORAGE_S3_ACCESS_KEY_ID_FILE: '/run/secrets/id' },
      /storage\.s3\.accessKeyIdFile and storage\.s3\.secretAccessKeyFile go together/,
    );
    refused({ GEOREG_STORAGE_S3_SECRET_ACCESS_KEY_FILE: '/run/secrets/secret' }, /go together/);
    for (const prefix of ['georeg', '/georeg/', 'georeg//', '../georeg/', 'geo reg/', 'a/./']) {
      refused({ GEOREG_STORAGE_S3_PREFIX: prefix }, /storage\.s3\.prefix must be empty or segments/);
    }
    refused({ GEOREG_STORAGE_S3_REDIRECT_TTL_SECONDS: '0' }, /storage\.s3\.redirectTtlSeconds must be a whole number from 1 to 604800/);
    refused({ GEOREG_STORAGE_S3_REDIRECT_TTL_SECONDS: '604801' }, /redirectTtlSeconds must be a whole number from 1 to 604800/);
    refused({ GEOREG_STORAGE_S3_FORCE_PATH_STYLE: 'yes' }, /storage\.s3\.forcePathStyle must be true or false/);
  });

  it('takes meta.postgres from a file or GEOREG_META_POSTGRES_*, checks it only for the postgres driver, and shows no password', () => {
    const url = 'postgres://georeg:s3cret@db.internal:5432/registry';
    const c = loadConfig({ env: { GEOREG_META_DRIVER: 'postgres', GEOREG_META_POSTGRES_URL: url, GEOREG_META_POSTGRES_POOL_SIZE: '4' } });
    assert.deepEqual(c.meta, { driver: 'postgres', postgres: { url, urlFile: '', poolSize: 4 } });
    assert.equal(printableConfig(c).meta.postgres.url, 'postgres://georeg:***@db.internal:5432/registry');
    assert.equal(c.meta.postgres.url, url, 'the config itself keeps it');
    const file = join(dir, 'pg.json');
    writeFileSync(file, JSON.stringify({ meta: { driver: 'postgres', postgres: { urlFile: '/run/secrets/pg-url' } } }));
    assert.deepEqual(loadConfig({ file }).meta.postgres, { url: '', urlFile: '/run/secrets/pg-url', poolSize: 10 });
    assert.equal(loadConfig({ env: { GEOREG_META_POSTGRES_URL: 'not a url' } }).meta.driver, 'level', 'not checked for another driver');

    const refused = (env: Record<string, string>, message: RegExp): void => {
      const error = (e: unknown): boolean => e instanceof ConfigError && message.test(e.message) && !e.message.includes('s3cret');
      assert.throws(() => loadConfig({ env: { GEOREG_META_DRIVER: 'postgres', ...env } }), error, JSON.stringify(env));
    };
    refused({}, /meta\.driver postgres needs meta\.postgres\.url or meta\.postgres\.urlFile \(one of the two\)/);
    refused({ GEOREG_META_POSTGRES_URL: url, GEOREG_META_POSTGRES_URL_FILE: '/run/secrets/pg-url' }, /one of the two/);
    refused(
      { GEOREG_META_POSTGRES_URL: 'mysql://georeg:s3cret@db/registry' },
      /meta\.postgres\.url must be postgres:\/\/.*mysql:\/\/georeg:\*\*\*@db/,
    );
    refused(
      { GEOREG_META_POSTGRES_URL: 'postgres://georeg:s3cret@db.internal' },
      /must be postgres:\/\/\[USER\[:PASSWORD\]@\]HOST\[:PORT\]\/DATABASE/,
    );
    refused(
      { GEOREG_META_POSTGRES_URL: url, GEOREG_META_POSTGRES_POOL_SIZE: '0' },
      /meta\.postgres\.poolSize must be a whole number of at least 1/,
    );
    refused({ GEOREG_META_POSTGRES_URL: url, GEOREG_META_POSTGRES_POOL_SIZE: '2.5' }, /poolSize/);
    assert.throws(() => loadConfig({ env: { GEOREG_META_DRIVER: 'sqlite' } }), /meta\.driver must be one of level, memory, postgres/);
  });
});
