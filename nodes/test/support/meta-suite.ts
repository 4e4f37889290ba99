import assert from 'node:assert/strict';
import { digestOf, isOciError, MediaTypes, type Descriptor } from 'georeg/oci';
import {
  StaleTagChange,
  type ManifestRecord,
  type MetaStore,
  type TimePage,
  type UploadSession,
  type WriteOptions,
} from '../../src/meta/store.js';
import type { HlcTimestamp } from '../../src/hlc.js';

/** A fresh, empty store whose tag and manifest times come from `now`. */
export type MakeMetaStore = (now: () => number) => Promise<{ store: MetaStore; cleanup: () => Promise<void> }>;

/**
 * The one behaviour every MetaStore implementation must show. Register it
 * from a test file with a factory that returns a fresh, empty store.
 */
export function metaStoreSuite(name: string, make: MakeMetaStore): void {
  describe(name, () => {
    let store: MetaStore;
    let cleanup: () => Promise<void>;
    /** The store's clock: tests move it. */
    let time = 0;

    beforeEach(async () => {
      time = 1_800_000_000_000;
      ({ store, cleanup } = await make(() => time));
    });

    afterEach(async () => {
      await cleanup();
    });

    describe('tags', () => {
      it('is empty at first', async () => {
        assert.equal(await store.getTag('r', 'latest'), undefined);
        assert.deepEqual(await store.listTags('r'), []);
        assert.deepEqual(await store.tagsOf('r', digestOf('x')), []);
        assert.equal(await store.deleteTag('r', 'latest'), false);
      });

      it('puts, gets and deletes a tag', async () => {
        const m = manifest('one');
        await store.putManifest('r', m);
        assert.equal(await store.putTag('r', 'latest', m.digest), undefined);
        assert.equal(await store.getTag('r', 'latest'), m.digest);
        assert.deepEqual(await store.tagsOf('r', m.digest), ['latest']);
        assert.equal(await store.deleteTag('r', 'latest'), true);
        assert.equal(await store.getTag('r', 'latest'), undefined);
        assert.deepEqual(await store.tagsOf('r', m.digest), []);
        assert.equal(await store.deleteTag('r', 'latest'), false);
        assert.ok(await store.getManifest('r', m.digest), 'deleting a tag keeps its manifest');
      });

      it('rejects a tag on a manifest that is not linked', async () => {
        await store.putManifest('other', manifest('one'));
        await assert.rejects(store.putTag('r', 'latest', digestOf('one')), (e) => isOciError(e, 'MANIFEST_UNKNOWN'));
        assert.equal(await store.getTag('r', 'latest'), undefined);
        assert.equal(await store.hasRepository('r'), false);
      });

      it('moves a tag and returns the previous digest', async () => {
        const [a, b] = [manifest('a'), manifest('b')];
        await store.putManifest('r', a, 'latest');
        await store.putManifest('r', b);
        assert.equal(await store.putTag('r', 'latest', b.digest), a.digest);
        assert.equal(await store.getTag('r', 'latest'), b.digest);
        assert.deepEqual(await store.tagsOf('r', a.digest), []);
        assert.deepEqual(await store.tagsOf('r', b.digest), ['latest']);
        assert.equal(await store.putTag('r', 'latest', b.digest), b.digest, 'same target again');
        assert.deepEqual(await store.tagsOf('r', b.digest), ['latest']);
        assert.deepEqual(await store.listTags('r'), ['latest']);
      });

      it('lists the tags of a digest sorted', async () => {
        const m = manifest('m');
        await store.putManifest('r', m);
        for (const tag of ['v2', 'V1', 'latest', '1.0', 'v1-rc']) await store.putTag('r', tag, m.digest);
        assert.deepEqual(await store.tagsOf('r', m.digest), ['1.0', 'V1', 'latest', 'v1-rc', 'v2']);
      });

      it('lists 250 tags in byte order with last and n', async () => {
        const m = manifest('m');
        await store.putManifest('r', m);
        const forms = [
          (i: number) => `v${i}`,
          (i: number) => `V${i}.0`,
          (i: number) => `${i}_x`,
          (i: number) => `rc-${i}`,
          (i: number) => `Z${i}`,
        ];
        const tags = Array.from({ length: 250 }, (_, i) => forms[i % forms.length](i));
        for (const tag of tags) await store.putTag('r', tag, m.digest);
        const sorted = [...tags].sort(byteOrder);
        assert.deepEqual(await store.listTags('r'), sorted);

        const pages: string[][] = [];
        let last: string | undefined;
        for (;;) {
          const page = await store.listTags('r', { n: 100, last });
          if (page.length === 0) break;
          pages.push(page);
          last = page.at(-1);
        }
        assert.deepEqual(
          pages.map((p) => p.length),
          [100, 100, 50],
        );
        assert.deepEqual(pages.flat(), sorted);

        assert.deepEqual(await store.listTags('r', { n: 0 }), []);
        assert.deepEqual(await store.listTags('r', { n: 1000 }), sorted);
        assert.deepEqual(
          await store.listTags('r', { last: 'V' }),
          sorted.filter((t) => t > 'V'),
          'last need not exist',
        );
        assert.deepEqual(await store.listTags('r', { last: sorted.at(-1) }), []);
      });

      it('lands 50 concurrent putTag calls on distinct tags', async () => {
        const m = manifest('m');
        await store.putManifest('r', m);
        const tags = Array.from({ length: 50 }, (_, i) => `t${String(i).padStart(2, '0')}`);
        await Promise.all(tags.map((tag) => store.putTag('r', tag, m.digest)));
        assert.deepEqual(await store.listTags('r'), tags);
        assert.deepEqual(await store.tagsOf('r', m.digest), tags);
      });

      it('keeps the reverse index exact under concurrent moves of one tag', async () => {
        const ms = ['a', 'b', 'c', 'd'].map((c) => manifest(c));
        for (const m of ms) await store.putManifest('r', m);
        await Promise.all(ms.flatMap((m) => [store.putTag('r', 'latest', m.digest), store.putTag('r', 'latest', m.digest)]));
        const winner = await store.getTag('r', 'latest');
        for (const m of ms) {
          assert.deepEqual(await store.tagsOf('r', m.digest), m.digest === winner ? ['latest'] : []);
        }
      });
    });

    describe('manifests', () => {
      it('puts and gets a manifest without a tag', async () => {
        const m = manifest('one', { annotations: { 'org.example': 'yes' } });
        assert.equal(await store.getManifest('r', m.digest), undefined);
        await store.putManifest('r', m);
        assert.deepEqual(await store.getManifest('r', m.digest), { ...m, updated: time });
        assert.deepEqual(await store.listTags('r'), []);
        assert.equal(await store.getManifest('other', m.digest), undefined);
      });

      it('puts a manifest with a tag, moving the tag from another manifest', async () => {
        const [a, b] = [manifest('a'), manifest('b')];
        await store.putManifest('r', a, 'latest');
        assert.equal(await store.getTag('r', 'latest'), a.digest);
        await store.putManifest('r', b, 'latest');
        assert.equal(await store.getTag('r', 'latest'), b.digest);
        assert.deepEqual(await store.tagsOf('r', a.digest), []);
        assert.deepEqual(await store.tagsOf('r', b.digest), ['latest']);
      });

      it('keeps the original created time and tags when put again', async () => {
        const m = manifest('m', { created: 1000 });
        await store.putManifest('r', m, 'v1');
        await store.putManifest('r', { ...m, created: 2000 }, 'v2');
        await store.putManifest('r', { ...m, created: 3000 });
        assert.equal((await store.getManifest('r', m.digest))?.created, 1000);
        assert.deepEqual(await store.tagsOf('r', m.digest), ['v1', 'v2']);
      });

      it('does not share state with the caller', async () => {
        const m = manifest('m', { annotations: { a: '1' } });
        await store.putManifest('r', m);
        m.references.push(digestOf('late'));
        const got = await store.getManifest('r', m.digest);
        assert.ok(got);
        got.references.length = 0;
        got.annotations = {};
        assert.deepEqual(await store.getManifest('r', m.digest), manifest('m', { annotations: { a: '1' }, updated: time }));
      });

      it('deletes a manifest with its tags', async () => {
        const [a, b] = [manifest('a'), manifest('b')];
        await store.putManifest('r', a, 'v1');
        await store.putTag('r', 'latest', a.digest);
        await store.putManifest('r', b, 'v2');
        assert.equal(await store.deleteManifest('r', a.digest), true);
        assert.equal(await store.getManifest('r', a.digest), undefined);
        assert.equal(await store.getTag('r', 'v1'), undefined);
        assert.equal(await store.getTag('r', 'latest'), undefined);
        assert.deepEqual(await store.listTags('r'), ['v2']);
        assert.deepEqual(await store.tagsOf('r', a.digest), []);
        assert.equal(await store.deleteManifest('r', a.digest), false);

        await store.putManifest('r', a);
        assert.deepEqual(await store.tagsOf('r', a.digest), [], 'no tag comes back with the manifest');
      });

      it('lists manifests sorted by digest', async () => {
        const ms = ['a', 'b', 'c', 'd', 'e'].map((c) => manifest(c));
        for (const m of ms) await store.putManifest('r', m);
        await store.putManifest('other', manifest('f'));
        const listed = await collect(store.listManifests('r'));
        assert.deepEqual(
          listed,
          [...ms].sort((x, y) => byteOrder(x.digest, y.digest)).map((m) => ({ ...m, updated: time })),
        );
        assert.deepEqual(await collect(store.listManifests('none')), []);
      });
    });

    describe('referrers', () => {
      it('lists referrers of a subject sorted by digest, with artifactType and annotations', async () => {
        const subject = manifest('image');
        await store.putManifest('r', subject, 'latest');
        const sig = manifest('sig', {
          subject: subject.digest,
          artifactType: 'application/vnd.example.signature',
          annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
        });
        const sbom = manifest('sbom', { subject: subject.digest, mediaType: MediaTypes.ociIndex });
        const unrelated = manifest('other', { subject: digestOf('elsewhere') });
        for (const m of [sig, sbom, unrelated]) await store.putManifest('r', m);

        const expected: Descriptor[] = [descriptor(sig), descriptor(sbom)].sort((x, y) => byteOrder(x.digest, y.digest));
        assert.deepEqual(await store.listReferrers('r', subject.digest), expected);
        assert.deepEqual(await store.listReferrers('r', digestOf('elsewhere')), [descriptor(unrelated)]);
        assert.deepEqual(await store.listReferrers('other', subject.digest), []);
        assert.deepEqual(await store.listReferrers('r', sig.digest), []);
      });

      it('indexes a referrer put before its subject', async () => {
        const subject = manifest('image');
        const sig = manifest('sig', { subject: subject.digest, artifactType: 'application/vnd.example' });
        await store.putManifest('r', sig);
        assert.deepEqual(await store.listReferrers('r', subject.digest), [descriptor(sig)]);
        await store.putManifest('r', subject);
        assert.deepEqual(await store.listReferrers('r', subject.digest), [descriptor(sig)]);
      });

      it('drops the referrer entry when the referrer is deleted, keeps it when the subject is', async () => {
        const subject = manifest('image');
        const [s1, s2] = [manifest('s1', { subject: subject.digest }), manifest('s2', { subject: subject.digest })];
        for (const m of [subject, s1, s2]) await store.putManifest('r', m);
        await store.deleteManifest('r', s1.digest);
        assert.deepEqual(await store.listReferrers('r', subject.digest), [descriptor(s2)]);
        await store.deleteManifest('r', subject.digest);
        assert.deepEqual(await store.listReferrers('r', subject.digest), [descriptor(s2)]);
      });
    });

    describe('blob links', () => {
      it('links, gets, lists and unlinks blobs', async () => {
        const digests = ['a', 'b', 'c'].map((c) => digestOf(c));
        assert.equal(await store.getBlobLink('r', digests[0]), undefined);
        for (const [i, d] of digests.entries()) await store.linkBlob('r', d, { size: i, created: 100 + i });
        assert.deepEqual(await store.getBlobLink('r', digests[1]), { size: 1, created: 101 });
        assert.equal(await store.getBlobLink('other', digests[1]), undefined);
        const expected = digests.map((digest, i) => ({ digest, link: { size: i, created: 100 + i } }));
        assert.deepEqual(
          await collect(store.listBlobLinks('r')),
          expected.sort((x, y) => byteOrder(x.digest, y.digest)),
        );

        assert.equal(await store.unlinkBlob('r', digests[1]), true);
        assert.equal(await store.unlinkBlob('r', digests[1]), false);
        assert.equal(await store.getBlobLink('r', digests[1]), undefined);
        assert.equal((await collect(store.listBlobLinks('r'))).length, 2);
      });

      it('overwrites a link', async () => {
        await store.linkBlob('r', digestOf('a'), { size: 1, created: 1 });
        await store.linkBlob('r', digestOf('a'), { size: 1, created: 2 });
        assert.deepEqual(await store.getBlobLink('r', digestOf('a')), { size: 1, created: 2 });
      });
    });

    describe('repositories', () => {
      it('exists while it has a manifest or a blob link', async () => {
        assert.deepEqual(await store.listRepositories(), []);
        assert.equal(await store.hasRepository('r'), false);

        await store.linkBlob('r', digestOf('layer'), { size: 5, created: 1 });
        await store.putManifest('r', manifest('m'), 'latest');
        assert.equal(await store.hasRepository('r'), true);
        assert.deepEqual(await store.listRepositories(), ['r']);

        await store.unlinkBlob('r', digestOf('layer'));
        assert.equal(await store.hasRepository('r'), true, 'the manifest keeps it');
        await store.deleteTag('r', 'latest');
        assert.equal(await store.hasRepository('r'), true, 'the manifest keeps it');
        await store.linkBlob('r', digestOf('layer'), { size: 5, created: 1 });
        await store.deleteManifest('r', digestOf('m'));
        assert.equal(await store.hasRepository('r'), true, 'the blob link keeps it');
        await store.unlinkBlob('r', digestOf('layer'));
        assert.equal(await store.hasRepository('r'), false);
        assert.deepEqual(await store.listRepositories(), []);
      });

      it('disappears when its last manifest goes, with its tags', async () => {
        const [a, b] = [manifest('a'), manifest('b')];
        await store.putManifest('r', a, 'v1');
        await store.putManifest('r', b, 'v2');
        await store.deleteManifest('r', a.digest);
        assert.equal(await store.hasRepository('r'), true);
        await store.deleteManifest('r', b.digest);
        assert.equal(await store.hasRepository('r'), false);
        assert.deepEqual(await store.listRepositories(), []);
        assert.deepEqual(await store.listTags('r'), []);
      });

      it('lists repositories sorted, with last and n', async () => {
        const names = Array.from({ length: 30 }, (_, i) => `team${i % 3}/app-${i}`);
        for (const [i, name] of names.entries()) await store.linkBlob(name, digestOf(String(i)), { size: 1, created: 1 });
        const sorted = [...names].sort(byteOrder);
        assert.deepEqual(await store.listRepositories(), sorted);
        assert.deepEqual(await store.listRepositories({ n: 7 }), sorted.slice(0, 7));
        assert.deepEqual(await store.listRepositories({ n: 7, last: sorted[6] }), sorted.slice(7, 14));
        assert.deepEqual(await store.listRepositories({ last: sorted[27] }), sorted.slice(28));
        assert.deepEqual(
          await store.listRepositories({ last: 'team1' }),
          sorted.filter((r) => r > 'team1'),
        );
        assert.deepEqual(await store.listRepositories({ n: 0 }), []);
        await assert.rejects(store.listRepositories({ n: -1 }), RangeError);
        await assert.rejects(store.listTags('team0/app-0', { n: 1.5 }), RangeError);
      });

      it('keeps repositories whose names share a prefix apart', async () => {
        const repos = ['ab', 'a/b', 'a-b', 'a'];
        for (const repo of repos) {
          const m = manifest(repo);
          await store.putManifest(repo, m, 'latest');
          await store.putTag(repo, repo.replace(/\W/g, '_'), m.digest);
          await store.putManifest(repo, manifest(`${repo}-sig`, { subject: m.digest }));
          await store.linkBlob(repo, digestOf(`${repo}-layer`), { size: 1, created: 1 });
        }
        assert.deepEqual(await store.listRepositories(), ['a', 'a-b', 'a/b', 'ab']);
        for (const repo of repos) {
          const m = manifest(repo);
          assert.equal(await store.getTag(repo, 'latest'), m.digest);
          assert.deepEqual(await store.listTags(repo), [repo.replace(/\W/g, '_'), 'latest'].sort(byteOrder));
          assert.deepEqual(await store.tagsOf(repo, m.digest), [repo.replace(/\W/g, '_'), 'latest'].sort(byteOrder));
          assert.deepEqual(
            (await collect(store.listManifests(repo))).map((r) => r.digest).sort(),
            [m.digest, digestOf(`${repo}-sig`)].sort(),
          );
          assert.deepEqual(await store.listReferrers(repo, m.digest), [descriptor(manifest(`${repo}-sig`, { subject: m.digest }))]);
          assert.deepEqual(await collect(store.listBlobLinks(repo)), [
            { digest: digestOf(`${repo}-layer`), link: { size: 1, created: 1 } },
          ]);
        }

        await store.deleteManifest('a', digestOf('a'));
        await store.deleteManifest('a', digestOf('a-sig'));
        await store.unlinkBlob('a', digestOf('a-layer'));
        assert.deepEqual(await store.listRepositories(), ['a-b', 'a/b', 'ab']);
        for (const repo of ['a-b', 'a/b', 'ab']) assert.equal(await store.getTag(repo, 'latest'), digestOf(repo));
        assert.deepEqual(await store.listRepositories({ last: 'a' }), ['a-b', 'a/b', 'ab']);
      });
    });

    describe('uploads', () => {
      it('puts, gets, updates, lists and deletes upload sessions', async () => {
        const sessions: UploadSession[] = ['c3', 'a1', 'b2'].map((id, i) => ({ id, repository: `r${i}`, created: i, updated: i }));
        assert.equal(await store.getUpload('a1'), undefined);
        for (const s of sessions) await store.putUpload(s);
        assert.deepEqual(await store.getUpload('b2'), sessions[2]);
        await store.putUpload({ id: 'b2', repository: 'r2', created: 2, updated: 99 });
        assert.equal((await store.getUpload('b2'))?.updated, 99);
        assert.deepEqual(
          (await collect(store.listUploads())).map((s) => s.id),
          ['a1', 'b2', 'c3'],
        );

        assert.equal(await store.deleteUpload('a1'), true);
        assert.equal(await store.deleteUpload('a1'), false);
        assert.equal(await store.getUpload('a1'), undefined);
        assert.deepEqual(
          (await collect(store.listUploads())).map((s) => s.id),
          ['b2', 'c3'],
        );
        assert.deepEqual(await store.listRepositories(), [], 'uploads do not make repositories');
      });
    });

    describe('tag clocks', () => {
      it('records the clock of each tag change, keeps it after a delete, and only when given', async () => {
        const m = manifest('m');
        const c1 = { wallMs: 10, logical: 0, region: 'eu' };
        const c2 = { wallMs: 20, logical: 1, region: 'us' };
        const c3 = { wallMs: 30, logical: 0, region: 'eu' };
        await store.putManifest('r', m, 'v1', { tagClock: c1 });
        assert.deepEqual(await store.getTagClock('r', 'v1'), c1);
        await store.putTag('r', 'v1', m.digest, { tagClock: c2 });
        assert.deepEqual(await store.getTagClock('r', 'v1'), c2, 'a re-put of the same digest still advances the clock');
        assert.equal(await store.deleteTag('r', 'v1', { tagClock: c3 }), true);
        assert.deepEqual(await store.getTagClock('r', 'v1'), c3, 'the clock outlives the tag');
        assert.equal(await store.deleteTag('r', 'never', { tagClock: c1 }), false);
        assert.equal(await store.getTagClock('r', 'never'), undefined, 'a local delete of an absent tag changes nothing');
        assert.equal(await store.deleteTag('r', 'never', ifNewer(10)), false);
        assert.deepEqual(await store.getTagClock('r', 'never'), clock(10), "a peer's delete of an absent tag records its clock");
        await store.putTag('r', 'plain', m.digest);
        assert.equal(await store.getTagClock('r', 'plain'), undefined);
        await store.putManifest('r-other', manifest('o'), 'v1', { tagClock: c2 });
        assert.deepEqual(await collect(store.listTagClocks('r')), [
          { tag: 'never', clock: clock(10) },
          { tag: 'v1', clock: c3 },
        ]);
      });

      it('makes a conditional tag change only when it wins against the clock held, and throws StaleTagChange when not', async () => {
        const [a, b] = [manifest('a'), manifest('b')];
        await store.putManifest('r', a);
        await store.putManifest('r', b);
        assert.equal(await store.putTag('r', 'v1', a.digest, ifNewer(20)), undefined);
        await assert.rejects(store.putTag('r', 'v1', b.digest, ifNewer(10)), StaleTagChange);
        await assert.rejects(store.deleteTag('r', 'v1', ifNewer(20)), StaleTagChange, 'as old as the clock held: no win');
        assert.equal(await store.getTag('r', 'v1'), a.digest);
        assert.deepEqual(await store.getTagClock('r', 'v1'), clock(20), 'a refused change leaves the clock');
        assert.equal(await store.deleteTag('r', 'v1', ifNewer(30)), true);
        await assert.rejects(store.putTag('r', 'v1', b.digest, ifNewer(25)), StaleTagChange, 'the clock of the delete still holds');
        assert.equal(await store.getTag('r', 'v1'), undefined);
      });

      it('lands the newer of two concurrent conditional changes of one tag, whichever is asked first', async () => {
        const [a, b] = [manifest('a'), manifest('b')];
        await store.putManifest('r', a);
        await store.putManifest('r', b);
        for (const [tag, first, second] of [
          ['older-first', 10, 20],
          ['newer-first', 20, 10],
        ] as const) {
          const change = (wallMs: number) => store.putTag('r', tag, wallMs === 20 ? b.digest : a.digest, ifNewer(wallMs));
          await Promise.allSettled([change(first), change(second), store.deleteTag('r', tag, ifNewer(15))]);
          assert.equal(await store.getTag('r', tag), b.digest, tag);
          assert.deepEqual(await store.getTagClock('r', tag), clock(20), tag);
        }
      });
    });

    describe('times and time order', () => {
      const page = (order: 'asc' | 'desc', n: number, after?: string): TimePage => ({ order, n, after });

      it('records when a tag was created and when it last moved', async () => {
        const [a, b] = [manifest('a'), manifest('b')];
        await store.putManifest('r', a, 'v1');
        await store.putManifest('r', b);
        assert.deepEqual(await store.getTagRecord('r', 'v1'), { name: 'v1', digest: a.digest, created: time, updated: time });
        const created = time;
        time += 5000;
        await store.putTag('r', 'v1', b.digest);
        assert.deepEqual(await store.getTagRecord('r', 'v1'), { name: 'v1', digest: b.digest, created, updated: time });
        time += 5000;
        await store.putTag('r', 'v1', b.digest);
        assert.equal((await store.getTagRecord('r', 'v1'))?.updated, time - 5000, 'pointing it where it points is no move');
        await store.deleteTag('r', 'v1');
        assert.equal(await store.getTagRecord('r', 'v1'), undefined);
        await store.putTag('r', 'v1', a.digest);
        assert.deepEqual(await store.getTagRecord('r', 'v1'), { name: 'v1', digest: a.digest, created: time, updated: time }, 'a new tag');
      });

      it("keeps a manifest's first created time and moves its updated time with each put", async () => {
        const m = manifest('m');
        await store.putManifest('r', m);
        assert.equal((await store.getManifest('r', m.digest))?.updated, time);
        time += 1000;
        await store.putManifest('r', { ...m, created: time });
        const held = await store.getManifest('r', m.digest);
        assert.equal(held?.created, m.created);
        assert.equal(held?.updated, time);
      });

      it('lists tags by last change, both ways, in pages that join to the whole', async () => {
        const ms = ['a', 'b', 'c', 'd'].map((c) => manifest(c));
        for (const m of ms) await store.putManifest('r', m);
        for (const [i, tag] of ['t3', 't1', 't4', 't2'].entries()) {
          time = 1_800_000_000_000 + i * 1000;
          await store.putTag('r', tag, (ms[i] as ManifestRecord).digest);
        }
        time += 1000;
        await store.putTag('r', 't1', (ms[3] as ManifestRecord).digest); // t1 moves last
        const names = async (order: 'asc' | 'desc', n: number): Promise<string[]> => {
          const out: string[] = [];
          for (let after: string | undefined; ;) {
            const got = await store.listTagsByTime('r', page(order, n, after));
            out.push(...got.map((t) => t.name));
            if (got.length < n) return out;
            after = got[got.length - 1]?.name;
          }
        };
        assert.deepEqual(await names('asc', 10), ['t3', 't4', 't2', 't1']);
        assert.deepEqual(await names('desc', 10), ['t1', 't2', 't4', 't3']);
        assert.deepEqual(await names('asc', 1), ['t3', 't4', 't2', 't1']);
        assert.deepEqual(await names('desc', 3), ['t1', 't2', 't4', 't3']);
        const [first] = await store.listTagsByTime('r', page('desc', 1));
        assert.deepEqual(first, { name: 't1', digest: ms[3]?.digest, created: 1_800_000_000_000 + 1000, updated: time });
        await store.deleteManifest('r', (ms[3] as ManifestRecord).digest);
        assert.deepEqual(await names('asc', 10), ['t3', 't4'], 'a manifest delete takes its tags out of the order');
        await assert.rejects(store.listTagsByTime('r', page('asc', 2, 't1')), (e) => isOciError(e, 'PAGINATION_INVALID'));
        assert.deepEqual(await store.listTagsByTime('other', page('asc', 2)), []);
      });

      it('lists manifests by last put, both ways, and by digest after one', async () => {
        const ms = ['a', 'b', 'c'].map((c) => manifest(c));
        for (const m of ms) {
          time += 1000;
          await store.putManifest('r', m);
        }
        time += 1000;
        await store.putManifest('r', ms[0] as ManifestRecord); // pushed again: now the latest
        const order = (list: ManifestRecord[]): string[] => list.map((m) => m.digest);
        const [a, b, c] = ms.map((m) => m.digest as string) as [string, string, string];
        assert.deepEqual(order(await store.listManifestsByTime('r', page('asc', 10))), [b, c, a]);
        assert.deepEqual(order(await store.listManifestsByTime('r', page('desc', 2))), [a, c]);
        assert.deepEqual(order(await store.listManifestsByTime('r', page('desc', 2, c))), [b]);
        assert.deepEqual(order(await store.listManifestsByTime('r', page('asc', 1, b))), [c]);
        await store.deleteManifest('r', c as ManifestRecord['digest']);
        assert.deepEqual(order(await store.listManifestsByTime('r', page('asc', 10))), [b, a]);
        const sorted = [a, b].sort(byteOrder);
        assert.deepEqual(order(await collect(store.listManifests('r', sorted[0] as ManifestRecord['digest']))), [sorted[1]]);
      });
    });

    describe('outbox', () => {
      const ev = (s: string): Uint8Array => new TextEncoder().encode(s);
      const text = (e: { event: Uint8Array }): string => new TextDecoder().decode(e.event);

      it('writes events with the change they describe, in order, and deletes them once published', async () => {
        const m = manifest('m');
        await store.putManifest('r', m, 'v1', { events: [ev('manifest-put'), ev('tag-put')] });
        await store.putTag('r', 'v2', m.digest, { events: [ev('tag-put-2')] });
        await store.deleteTag('r', 'v1', { events: [ev('tag-delete')] });
        await store.deleteManifest('r', m.digest, { events: [ev('manifest-delete')] });
        assert.equal(store.outboxDepth(), 5);
        const all = await store.readOutbox(10);
        assert.deepEqual(all.map(text), ['manifest-put', 'tag-put', 'tag-put-2', 'tag-delete', 'manifest-delete']);
        assert.ok(
          all.every((e, i) => i === 0 || e.seq > (all[i - 1]?.seq ?? Infinity)),
          'sequence increases',
        );
        assert.deepEqual((await store.readOutbox(2)).map(text), ['manifest-put', 'tag-put']);
        await store.deleteOutbox(all.slice(0, 3).map((e) => e.seq));
        assert.equal(store.outboxDepth(), 2);
        assert.deepEqual((await store.readOutbox(10)).map(text), ['tag-delete', 'manifest-delete']);
      });

      it('writes no event for a change that changes nothing', async () => {
        const m = manifest('m');
        await store.putManifest('r', m, 'v1');
        await store.putTag('r', 'v1', m.digest, { events: [ev('same tag')] });
        assert.equal(await store.deleteTag('r', 'absent', { events: [ev('no such tag')] }), false);
        assert.equal(await store.deleteManifest('r', digestOf('absent'), { events: [ev('no such manifest')] }), false);
        await assert.rejects(store.putTag('r', 'v2', digestOf('absent'), { events: [ev('unknown manifest')] }));
        assert.equal(store.outboxDepth(), 0);
        assert.deepEqual(await store.readOutbox(10), []);
      });

      it("numbers each repository's events in write order, and no other event", async () => {
        const m = manifest('m');
        await store.putManifest('r', m, 'v1', { events: [ev('r manifest-put'), ev('r tag-put')] });
        await store.putManifest('other', m, 'v1', { events: [ev('other manifest-put')] });
        await store.putTag('r', 'v1', m.digest, { events: [ev('no-op: not numbered')] });
        await store.records('policies').put('k', { v: 1 }, { events: [ev('policy')] });
        await store.putTag('r', 'v2', m.digest, { events: [ev('r tag-put-2')] });
        await store.deleteTag('r', 'v1', { events: [ev('r tag-delete')] });
        await store.deleteManifest('other', m.digest, { events: [ev('other manifest-delete')] });
        await store.deleteManifest('r', m.digest, { events: [ev('r manifest-delete')] });
        const numbered = (await store.readOutbox(20)).map((e) => [text(e), e.repositorySeq]);
        assert.deepEqual(numbered, [
          ['r manifest-put', 1],
          ['r tag-put', 2],
          ['other manifest-put', 1],
          ['policy', undefined],
          ['r tag-put-2', 3],
          ['r tag-delete', 4],
          ['other manifest-delete', 2],
          ['r manifest-delete', 5],
        ]);
        // The numbering goes on once the events are published, and after the repository is gone.
        await store.deleteOutbox((await store.readOutbox(20)).map((e) => e.seq));
        await store.putManifest('r', m, undefined, { events: [ev('r again')] });
        assert.deepEqual(
          (await store.readOutbox(20)).map((e) => e.repositorySeq),
          [6],
        );
      });
    });
  });
}

const clock = (wallMs: number): HlcTimestamp => ({ wallMs, logical: 0, region: 'eu' });

/** Options of a conditional tag change stamped `wallMs`: it wins only against an older clock (or none). */
function ifNewer(wallMs: number): WriteOptions {
  return { tagClock: clock(wallMs), wins: (held) => held === undefined || held.wallMs < wallMs };
}

/** A manifest record whose digest is that of `content`. */
export function manifest(content: string, extra: Partial<Omit<ManifestRecord, 'digest'>> = {}): ManifestRecord {
  return {
    digest: digestOf(content),
    mediaType: MediaTypes.ociManifest,
    size: content.length,
    created: 1_700_000_000_000,
    references: [digestOf(`${content}-config`), digestOf(`${content}-layer`)],
    ...extra,
  };
}

function descriptor(m: ManifestRecord): Descriptor {
  const d: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.size };
  if (m.artifactType !== undefined) d.artifactType = m.artifactType;
  if (m.annotations !== undefined) d.annotations = m.annotations;
  return d;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
