'use strict';
// app_metadata.prereg mirrors the service's grants on every login with an email
// (revocations included), stays under 8 KB, and every log line stays under 256
// characters; the claim namespace refuses hosts Auth0 drops claims for. Both
// scripts run against the real prereg binary (harness.js).

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { after, before, describe, test } = require('node:test');

const h = require('./harness.js');

const CLAIM = 'https://prereg/roles';
const DB_CONN = { id: 'con_fpe5kj482KO1eOzQ', name: 'Username-Password-Authentication', strategy: 'auth0' };
const MAX_WRITE = 8 * 1024;
const MAX_LINE = 256;

const org = () => `org_${crypto.randomBytes(8).toString('hex')}`;
const env = {};

before(async () => {
  env.dir = h.tmpDir();
  env.bin = h.buildBinary(env.dir);
  env.hookSecret = h.secret();
  env.svc = await h.startService(env.bin, env.dir, 'mirror', { hookSecret: env.hookSecret, adminToken: h.secret() });
  env.closed = await h.closedURL();
});

after(async () => {
  if (env.svc) await env.svc.stop();
  if (env.dir) fs.rmSync(env.dir, { recursive: true, force: true });
});

/** spec builds one login (see harness.js) against the real service. */
function spec({ userID, email, verified = true, organization, appMetadata, protocol, over = {} }) {
  const user = { user_id: userID, app_metadata: structuredClone(appMetadata || {}), email_verified: verified };
  if (email !== undefined) user.email = email;
  const secrets = { PREREG_URL: env.svc.url, PREREG_SECRET: env.hookSecret, ...over };
  return {
    user,
    organization: organization ? { id: organization, name: 'acme' } : undefined,
    connection: DB_CONN,
    protocol,
    secrets,
  };
}

/**
 * run runs one script and checks what every run must satisfy: a first line
 * "prereg: <what happened>", then only warning lines, each under 256
 * characters, none with a secret or the full email.
 */
async function run(script, s) {
  const r = await script(s);
  assert.ok(r.logs.length >= 1, 'no log line');
  assert.match(r.logs[0], /^prereg: (?!warning)/);
  for (const line of r.logs.slice(1)) assert.match(line, /^prereg: warning: /);
  for (const line of r.logs) {
    assert.ok(line.length < MAX_LINE, `log line of ${line.length} characters: ${line}`);
    assert.ok(!line.includes(env.hookSecret), `log line leaks the secret: ${line}`);
    if (s.user.email) assert.ok(!line.toLowerCase().includes(s.user.email.toLowerCase()), `log line has the full email: ${line}`);
  }
  return r;
}

/** applied is the user's app_metadata once Auth0 has applied the run's writes (null removes). */
function applied(appMetadata, r) {
  const md = structuredClone(appMetadata || {});
  for (const v of r.metadata) {
    if (v === null) delete md.prereg;
    else md.prereg = v;
  }
  return md;
}

const grantOf = (reg) => ({ registration_id: reg.id, organization_id: reg.organization_id || '', roles: reg.roles });
const byID = (a, b) => a.registration_id.localeCompare(b.registration_id);
const sorted = (a) => [...a].sort();

function assertClaim(r, want) {
  assert.equal(r.denied, null, `login denied: ${r.denied}`);
  if (want === null) {
    assert.deepEqual(r.idClaims, {});
    assert.deepEqual(r.accessClaims, {});
    return;
  }
  assert.deepEqual(Object.keys(r.idClaims), [CLAIM]);
  assert.deepEqual(sorted(r.idClaims[CLAIM]), sorted(want));
  assert.deepEqual(r.accessClaims, r.idClaims);
}

/** assertWrote checks the run wrote app_metadata.prereg exactly once, as want (null: removed). */
function assertWrote(r, want) {
  assert.equal(r.metadata.length, 1, `writes: ${JSON.stringify(r.metadata)}`);
  const got = r.metadata[0];
  if (want === null) {
    assert.equal(got, null);
    return;
  }
  assert.ok(Array.isArray(got), `app_metadata.prereg is not the grants: ${JSON.stringify(got)}`);
  assert.deepEqual([...got].sort(byID), [...want].sort(byID));
  assert.ok(Buffer.byteLength(JSON.stringify({ prereg: got })) < MAX_WRITE);
}

for (const [name, script] of [['Action', h.runAction], ['Rule', h.runRule]]) {
  describe(`${name} mirrors the service's grants`, () => {
    test('a force-revoked grant disappears at the next login; refresh tokens and an unreachable service stop issuing it', async () => {
      const email = h.uniqueEmail('rev');
      const orgA = org();
      const tw = await h.register(env.svc, { email, roles: ['viewer'] });
      const inA = await h.register(env.svc, { email, organization_id: orgA, roles: ['rol_A1'] });
      const userID = h.uniqueUser();
      let md = {};

      const first = await run(script, spec({ userID, email, organization: orgA, appMetadata: md }));
      assert.match(first.logs[0], /^prereg: granted .*app_metadata=written/);
      assertClaim(first, ['viewer', 'rol_A1']);
      assertWrote(first, [grantOf(tw), grantOf(inA)]);
      md = applied(md, first);

      const again = await run(script, spec({ userID, email, organization: orgA, appMetadata: md }));
      assert.match(again.logs[0], /^prereg: already_granted .*app_metadata=unchanged/);
      assertClaim(again, ['viewer', 'rol_A1']);
      assert.deepEqual(again.metadata, [], 'unchanged grants were written again');

      await h.revoke(env.svc, inA.id, { force: true });
      const partly = await run(script, spec({ userID, email, organization: orgA, appMetadata: md }));
      assertClaim(partly, ['viewer']);
      assertWrote(partly, [grantOf(tw)]);
      md = applied(md, partly);
      assertClaim(await run(script, spec({ userID, email, organization: orgA, appMetadata: md, protocol: 'oauth2-refresh-token' })), ['viewer']);

      await h.revoke(env.svc, tw.id, { force: true });
      const gone = await run(script, spec({ userID, email, organization: orgA, appMetadata: md }));
      assert.match(gone.logs[0], /^prereg: no_match .*app_metadata=written/);
      assertClaim(gone, null);
      assertWrote(gone, null);
      md = applied(md, gone);
      assert.ok(!('prereg' in md));

      assertClaim(await run(script, spec({ userID, email, organization: orgA, appMetadata: md, protocol: 'oauth2-refresh-token' })), null);
      const down = await run(script, spec({ userID, email, organization: orgA, appMetadata: md, over: { PREREG_URL: env.closed, PREREG_ON_ERROR: 'allow' } }));
      assert.match(down.logs[0], /^prereg: error /);
      assertClaim(down, null);

      const later = await run(script, spec({ userID, email, organization: orgA, appMetadata: md }));
      assertClaim(later, null);
      assert.deepEqual(later.metadata, [], 'nothing held, nothing granted: nothing to write');
    });

    test('email_unverified mirrors too: grants the service no longer has are removed, allow or deny', async () => {
      for (const onUnverified of ['allow', 'deny']) {
        const email = h.uniqueEmail('unv');
        await h.register(env.svc, { email, roles: ['viewer'] });
        const stale = [{ registration_id: 'reg_gone', organization_id: '', roles: ['admin'] }];
        const r = await run(script, spec({ userID: h.uniqueUser(), email, verified: false, appMetadata: { prereg: stale }, over: { PREREG_ON_UNVERIFIED: onUnverified } }));
        assert.match(r.logs[0], /^prereg: email_unverified /);
        assertWrote(r, null);
        assert.deepEqual(r.idClaims, {}, onUnverified);
        if (onUnverified === 'deny') assert.match(r.denied ?? '', /verify your email/i);
        else assert.equal(r.denied, null);
      }
    });

    test('a login without an email leaves app_metadata as it is', async () => {
      const held = [{ registration_id: 'reg_1', organization_id: '', roles: ['viewer'] }];
      const r = await run(script, spec({ userID: h.uniqueUser(), appMetadata: { prereg: held } }));
      assert.match(r.logs[0], /^prereg: no_match /);
      assert.deepEqual(r.metadata, []);
    });

    test('the earlier shape {roles, grants, updated_at} is read on refresh and replaced at the next login', async () => {
      const email = h.uniqueEmail('old');
      const orgA = org();
      const tw = await h.register(env.svc, { email, roles: ['viewer'] });
      const inA = await h.register(env.svc, { email, organization_id: orgA, roles: ['rol_A1'] });
      const userID = h.uniqueUser();
      assertWrote(await run(script, spec({ userID, email })), [grantOf(tw), grantOf(inA)]);
      const old = { prereg: { roles: ['viewer'], grants: [grantOf(tw), grantOf(inA)], updated_at: '2026-11-29T02:13:31.000Z' } };

      assertClaim(await run(script, spec({ userID, email, organization: orgA, appMetadata: old, protocol: 'oauth2-refresh-token' })), ['viewer', 'rol_A1']);
      const migrated = await run(script, spec({ userID, email, organization: orgA, appMetadata: old }));
      assertClaim(migrated, ['viewer', 'rol_A1']);
      assertWrote(migrated, [grantOf(tw), grantOf(inA)]);
      const md = applied(old, migrated);
      assert.deepEqual(Object.keys(md), ['prereg']);
      assert.deepEqual((await run(script, spec({ userID, email, organization: orgA, appMetadata: md }))).metadata, []);
    });

    test('grants over 8 KB: tenant-wide and this organization first, the rest left out with a log line', async () => {
      const email = h.uniqueEmail('big');
      const [orgA, orgB, orgC] = [org(), org(), org()];
      const roles = (tag) => Array.from({ length: 50 }, (_, i) => `${tag}-role-${String(i).padStart(2, '0')}-${'x'.repeat(40)}`);
      const tw = await h.register(env.svc, { email, roles: roles('tw') });
      const inA = await h.register(env.svc, { email, organization_id: orgA, roles: roles('a') });
      await h.register(env.svc, { email, organization_id: orgB, roles: roles('b') });
      const inC = await h.register(env.svc, { email, organization_id: orgC, roles: roles('c') });
      const userID = h.uniqueUser();

      const r = await run(script, spec({ userID, email, organization: orgC }));
      assertClaim(r, [...roles('tw'), ...roles('c')]);
      assertWrote(r, [grantOf(tw), grantOf(inC)]);
      assert.ok(r.logs.some((l) => /^prereg: warning: app_metadata .*left out 2 of 4 grants .*8 KB/.test(l)), JSON.stringify(r.logs));
      const md = applied({}, r);
      assertClaim(await run(script, spec({ userID, email, organization: orgC, appMetadata: md, protocol: 'oauth2-refresh-token' })), [...roles('tw'), ...roles('c')]);

      // Another organization's login keeps its own grant instead.
      const inOrgA = await run(script, spec({ userID, email, organization: orgA, appMetadata: md }));
      assertWrote(inOrgA, [grantOf(tw), grantOf(inA)]);
    });

    test('log lines stay under 256 characters whatever the input', async () => {
      const domain = `${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.example.com`;
      const email = `${'L'.repeat(40)}.${crypto.randomBytes(4).toString('hex')}@${domain}`;
      const roles = Array.from({ length: 50 }, (_, i) => `r${i}-${'y'.repeat(90)}`);
      for (let i = 0; i < 3; i++) await h.register(env.svc, { email, organization_id: i ? org() : undefined, roles });
      const userID = `auth0|${'u'.repeat(480)}${crypto.randomBytes(8).toString('hex')}`;
      const over = { PREREG_CLAIM_NAMESPACE: `https://${'n'.repeat(200)}.auth0.com/` };
      const r = await run(script, spec({ userID, email, organization: 'org_' + 'Z'.repeat(64), over }));
      assert.ok(r.logs.length >= 3, `want the outcome, namespace and size lines: ${JSON.stringify(r.logs)}`);
      const down = await run(script, spec({ userID, email, over: { ...over, PREREG_URL: env.closed } }));
      assert.match(down.logs[0], /^prereg: error /);
    });

    test('claim namespace: an http(s) URL ending in / whose host is not Auth0\'s, else the default', async () => {
      const email = h.uniqueEmail('ns');
      await h.register(env.svc, { email, roles: ['viewer'] });
      const userID = h.uniqueUser();
      const cases = [
        ['https://example.com/', 'https://example.com/'],
        ['http://example.org/claims/', 'http://example.org/claims/'],
        ['https://notauth0.com/', 'https://notauth0.com/'],
        ['https://auth0.com.example.net/', 'https://auth0.com.example.net/'],
        ['https://auth0.com/', null],
        ['https://tenant.eu.auth0.com/', null],
        ['https://AUTH0.COM./', null],
        ['https://x.webtask.io/', null],
        ['https://webtask.run/', null],
        ['https://sandbox.it.webtask.run/ns/', null],
        ['https://example.com', null],
        ['ftp://example.com/', null],
        ['urn:example:', null],
        ['example.com/', null],
      ];
      for (const [ns, want] of cases) {
        const r = await run(script, spec({ userID, email, over: { PREREG_CLAIM_NAMESPACE: ns } }));
        assert.equal(r.denied, null, ns);
        assert.deepEqual(Object.keys(r.idClaims), [`${want ?? 'https://prereg/'}roles`], ns);
        const warned = r.logs.some((l) => /^prereg: warning: PREREG_CLAIM_NAMESPACE /.test(l) && l.includes('https://prereg/'));
        assert.equal(warned, want === null, `${ns}: ${JSON.stringify(r.logs)}`);
      }
    });
  });
}
