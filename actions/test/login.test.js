'use strict';
// End-to-end tests of actions/post-login.js and actions/rule.js against the real
// prereg binary. Every case runs for both scripts through adapters that call them
// the way Auth0 does (harness.js). Run from the repository root:
//
//   node --test actions/

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { after, before, describe, test } = require('node:test');

const h = require('./harness.js');

const NS = 'https://prereg/';
const CLAIM = `${NS}roles`;
const DB_CONN = { id: 'con_fpe5kj482KO1eOzQ', name: 'Username-Password-Authentication', strategy: 'auth0' };

const org = () => `org_${crypto.randomBytes(8).toString('hex')}`;

const env = {};

before(async () => {
  env.dir = h.tmpDir();
  env.bin = h.buildBinary(env.dir);
  env.hookSecret = h.secret();
  env.adminToken = h.secret();
  env.signing = h.whsec();
  // svc accepts signed and unsigned hook calls; strict demands a valid signature.
  env.svc = await h.startService(env.bin, env.dir, 'plain', {
    hookSecret: env.hookSecret, adminToken: env.adminToken, extra: ['--signing-secrets', env.signing],
  });
  env.strict = await h.startService(env.bin, env.dir, 'strict', {
    hookSecret: env.hookSecret, adminToken: env.adminToken,
    extra: ['--signing-secrets', env.signing, '--require-signature'],
  });
  env.pass = await h.startProxy(env.svc.url); // records what the scripts send
  env.strictPass = await h.startProxy(env.strict.url);
  env.slow = await h.startProxy(env.svc.url, { delayMs: 3000 });
  env.broken = await h.startProxy(env.svc.url, { status: 500, body: '{"error":{"code":"internal","message":"internal error"}}' });
  env.html = await h.startProxy(env.svc.url, { status: 200, body: '<html>maintenance</html>' });
  env.odd = await h.startProxy(env.svc.url, { status: 200, body: '{"outcome":"maybe","roles":[]}' });
  env.closed = await h.closedURL();
});

after(async () => {
  for (const p of [env.pass, env.strictPass, env.slow, env.broken, env.html, env.odd]) if (p) await p.close();
  for (const s of [env.svc, env.strict]) if (s) await s.stop();
  if (env.dir) fs.rmSync(env.dir, { recursive: true, force: true });
});

/** secrets returns the scripts' secrets pointing at the recording proxy, with overrides. */
function secrets(over = {}) {
  const s = { PREREG_URL: env.pass.url, PREREG_SECRET: env.hookSecret, ...over };
  for (const k of Object.keys(s)) if (s[k] === undefined) delete s[k];
  return s;
}

/** spec builds one login (see harness.js); verified: 'missing' leaves email_verified out. */
function spec({ userID = h.uniqueUser(), email, verified = true, organization, connection = DB_CONN, appMetadata, protocol, sec = secrets() }) {
  const user = { user_id: userID, app_metadata: appMetadata || {} };
  if (email !== undefined) user.email = email;
  if (verified !== 'missing') user.email_verified = verified;
  return {
    user,
    organization: organization ? { id: organization, name: organization.slice(4, 10) } : undefined,
    connection,
    protocol,
    secrets: sec,
  };
}

/**
 * login runs one script and checks what every run must satisfy: exactly one log
 * line, no secret and no full email in it.
 */
async function login(run, s) {
  const r = await run(s);
  assert.equal(r.logs.length, 1, `want exactly one log line, got ${JSON.stringify(r.logs)}`);
  const line = r.logs[0];
  assert.match(line, /^prereg: /);
  for (const v of [env.hookSecret, env.adminToken, env.signing, env.signing.slice(6), s.secrets.PREREG_SECRET]) {
    if (v) assert.ok(!line.includes(v), `log line leaks a secret: ${line}`);
  }
  if (s.user.email) {
    assert.ok(!line.toLowerCase().includes(s.user.email.toLowerCase()), `log line has the full email: ${line}`);
    const e = s.user.email.toLowerCase();
    assert.ok(line.includes(`${e[0]}***${e.slice(e.lastIndexOf('@'))}`), `log line lacks the masked email: ${line}`);
  }
  return r;
}

/** sentBy returns the bodies the recording proxy saw for userID. */
function sentBy(proxy, userID) {
  return proxy.requests.map((q) => JSON.parse(q.body)).filter((b) => b.user_id === userID);
}

const sorted = (a) => [...a].sort();

function assertRoles(r, want, claim = CLAIM) {
  assert.equal(r.denied, null, `login denied: ${r.denied}`);
  assert.deepEqual(Object.keys(r.idClaims), [claim]);
  assert.deepEqual(sorted(r.idClaims[claim]), sorted(want));
  assert.deepEqual(r.accessClaims, r.idClaims);
}

function assertNothing(r) {
  assert.equal(r.denied, null, `login denied: ${r.denied}`);
  assert.deepEqual(r.idClaims, {});
  assert.deepEqual(r.accessClaims, {});
  assert.deepEqual(r.metadata, []);
}

function assertDenied(r, pattern) {
  assert.match(r.denied ?? '', pattern);
  assert.deepEqual(r.idClaims, {});
  assert.deepEqual(r.accessClaims, {});
  assert.deepEqual(r.metadata, []);
}

const VERIFY = /verify your email address/i;
const GENERIC = /try again/i;

for (const [name, run] of [['Action', h.runAction], ['Rule', h.runRule]]) {
  describe(name, () => {
    test('granted without organization: tenant-wide roles in the tokens, every grant recorded', async () => {
      const email = h.uniqueEmail('Ana');
      const orgA = org();
      const tw = await h.register(env.svc, { email, roles: ['billing-admin', 'rol_lEh5V8omwZrnZd9o'] });
      const inA = await h.register(env.svc, { email, organization_id: orgA, roles: ['rol_A1'] });
      const s = spec({ email });
      const r = await login(run, s);

      assertRoles(r, ['billing-admin', 'rol_lEh5V8omwZrnZd9o']);
      assert.match(r.logs[0], /^prereg: granted /);
      assert.equal(r.metadata.length, 1);
      const md = r.metadata[0];
      assert.ok(Array.isArray(md), `app_metadata.prereg is the grants: ${JSON.stringify(md)}`);
      assert.deepEqual(
        sorted(md.map((g) => `${g.registration_id}|${g.organization_id}|${g.roles.join(',')}|${Object.keys(g).join(',')}`)),
        sorted([
          `${tw.id}||billing-admin,rol_lEh5V8omwZrnZd9o|registration_id,organization_id,roles`,
          `${inA.id}|${orgA}|rol_A1|registration_id,organization_id,roles`,
        ]),
      );
      assert.deepEqual(sentBy(env.pass, s.user.user_id), [
        { user_id: s.user.user_id, email, email_verified: true, connection: DB_CONN.name },
      ]);
      assert.equal((await h.getRegistration(env.svc, tw.id)).granted_to, s.user.user_id);
    });

    test('granted with organization: tenant-wide plus this organization, duplicates removed, custom namespace', async () => {
      const email = h.uniqueEmail('bo');
      const [orgA, orgB] = [org(), org()];
      await h.register(env.svc, { email, roles: ['viewer'] });
      await h.register(env.svc, { email, organization_id: orgA, roles: ['viewer', 'rol_A1'] });
      await h.register(env.svc, { email, organization_id: orgB, roles: ['rol_B1'] });
      const s = spec({ email, organization: orgA, sec: secrets({ PREREG_CLAIM_NAMESPACE: 'https://example.com/' }) });
      const r = await login(run, s);

      assertRoles(r, ['viewer', 'rol_A1'], 'https://example.com/roles');
      assert.equal(r.metadata.length, 1);
      assert.equal(r.metadata[0].length, 3);
      const [sent] = sentBy(env.pass, s.user.user_id);
      assert.equal(sent.organization_id, orgA);
    });

    test('already granted: roles again on the next login, app_metadata written only when it changed', async () => {
      const email = h.uniqueEmail('cy');
      const [orgA, orgB] = [org(), org()];
      await h.register(env.svc, { email, roles: ['viewer'] });
      await h.register(env.svc, { email, organization_id: orgA, roles: ['rol_A1'] });
      await h.register(env.svc, { email, organization_id: orgB, roles: ['rol_B1'] });
      const userID = h.uniqueUser();
      const first = await login(run, spec({ userID, email, organization: orgA }));
      assert.match(first.logs[0], /^prereg: granted /);
      assertRoles(first, ['viewer', 'rol_A1']);
      const md = first.metadata[0];

      const cases = [
        { desc: 'same metadata, other organization', organization: orgB, appMetadata: { prereg: md }, want: ['viewer', 'rol_B1'], writes: 0 },
        { desc: 'same metadata, no organization', appMetadata: { prereg: md }, want: ['viewer'], writes: 0 },
        { desc: 'metadata lost (last Action failed)', organization: orgA, appMetadata: {}, want: ['viewer', 'rol_A1'], writes: 1 },
      ];
      for (const c of cases) {
        const r = await login(run, spec({ userID, email, organization: c.organization, appMetadata: c.appMetadata }));
        assert.match(r.logs[0], /^prereg: already_granted /, c.desc);
        assertRoles(r, c.want);
        assert.equal(r.metadata.length, c.writes, c.desc);
        if (c.writes) assert.deepEqual(r.metadata[0], md, c.desc);
      }
    });

    test('a second account with the same address gets nothing', async () => {
      const email = h.uniqueEmail('di');
      await h.register(env.svc, { email, roles: ['viewer'] });
      assertRoles(await login(run, spec({ email })), ['viewer']);
      const r = await login(run, spec({ email: email.toLowerCase() }));
      assertNothing(r);
      assert.match(r.logs[0], /^prereg: no_match /);
    });

    test('unverified email, default: denied with a request to verify, nothing claimed', async () => {
      const email = h.uniqueEmail('ed');
      const reg = await h.register(env.svc, { email, roles: ['viewer'] });
      const userID = h.uniqueUser();
      const r = await login(run, spec({ userID, email, verified: false }));
      assertDenied(r, VERIFY);
      assert.match(r.logs[0], /^prereg: email_unverified .*denied/);
      assert.equal((await h.getRegistration(env.svc, reg.id)).status, 'pending');
      // Once verified, the same person gets the roles.
      assertRoles(await login(run, spec({ userID, email })), ['viewer']);
    });

    test('unverified email with PREREG_ON_UNVERIFIED=allow: through without roles', async () => {
      const email = h.uniqueEmail('fa');
      const reg = await h.register(env.svc, { email, roles: ['viewer'] });
      const r = await login(run, spec({ email, verified: false, sec: secrets({ PREREG_ON_UNVERIFIED: 'allow' }) }));
      assertNothing(r);
      assert.match(r.logs[0], /^prereg: email_unverified .*allowed/);
      assert.equal((await h.getRegistration(env.svc, reg.id)).status, 'pending');
    });

    test('missing email_verified counts as not verified', async () => {
      const email = h.uniqueEmail('gu');
      await h.register(env.svc, { email, roles: ['viewer'] });
      const s = spec({ email, verified: 'missing' });
      assert.ok(!('email_verified' in s.user));
      assertDenied(await login(run, s), VERIFY);
      assert.equal(sentBy(env.pass, s.user.user_id)[0].email_verified, false);
    });

    test('no email (connection without one): no_match, nothing written', async () => {
      const s = spec({ email: undefined, connection: { id: 'con_x', name: 'sms', strategy: 'sms' } });
      const r = await login(run, s);
      assertNothing(r);
      assert.match(r.logs[0], /^prereg: no_match /);
      const [sent] = sentBy(env.pass, s.user.user_id);
      assert.ok(!('email' in sent), JSON.stringify(sent));
      assert.equal(sent.connection, 'sms');
    });

    test('refresh-token exchange: no call to the service, claim from app_metadata', async () => {
      const [orgA, orgB] = [org(), org()];
      const md = [
        { registration_id: 'r1', organization_id: '', roles: ['viewer'] },
        { registration_id: 'r2', organization_id: orgA, roles: ['rol_A1', 'viewer'] },
        { registration_id: 'r3', organization_id: orgB, roles: ['rol_B1'] },
      ];
      const cases = [
        { desc: 'organization A', organization: orgA, appMetadata: { prereg: md }, want: ['viewer', 'rol_A1'] },
        { desc: 'no organization', appMetadata: { prereg: md }, want: ['viewer'] },
        { desc: 'nothing recorded', appMetadata: {}, want: null },
      ];
      for (const c of cases) {
        const seen = env.pass.requests.length;
        const r = await login(run, spec({ email: h.uniqueEmail('hu'), organization: c.organization, appMetadata: c.appMetadata, protocol: 'oauth2-refresh-token' }));
        assert.equal(env.pass.requests.length, seen, `${c.desc}: the service was called`);
        assert.match(r.logs[0], /^prereg: refresh /);
        if (c.want) assertRoles(r, c.want);
        else assertNothing(r);
        assert.deepEqual(r.metadata, [], c.desc);
      }
    });

    describe('service failures follow PREREG_ON_ERROR', () => {
      const cached = { prereg: [{ registration_id: 'r1', organization_id: '', roles: ['viewer'] }] };
      const failures = [
        { desc: 'service down', url: () => env.closed, log: /network error/ },
        { desc: 'slow service', url: () => env.slow.url, over: { PREREG_TIMEOUT_MS: '200' }, log: /timeout after 200 ms/, maxMs: 1500 },
        { desc: 'answer 500', url: () => env.broken.url, log: /status 500/ },
        { desc: 'answer not JSON', url: () => env.html.url, log: /not JSON/ },
        { desc: 'unknown outcome', url: () => env.odd.url, log: /no known outcome/ },
        { desc: 'wrong secret (401)', url: () => env.svc.url, over: { PREREG_SECRET: 'x'.repeat(40) }, log: /status 401/ },
        { desc: 'unsigned request to a service requiring signatures', url: () => env.strict.url, on: () => env.strict, log: /status 401/ },
        { desc: 'request signed with the wrong key', url: () => env.strict.url, on: () => env.strict, over: { PREREG_SIGNING_SECRET: h.whsec() }, log: /status 401/ },
        { desc: 'misconfigured (no PREREG_URL)', url: () => undefined, log: /misconfigured/ },
      ];
      // Each case registers the address first (on the service it calls, f.on), so
      // a service that wrongly answered would grant roles instead of failing.
      for (const f of failures) {
        test(`${f.desc}: deny`, async () => {
          const email = h.uniqueEmail('iv');
          await h.register(f.on ? f.on() : env.svc, { email, roles: ['viewer'] });
          const r = await login(run, spec({ email, appMetadata: cached, sec: secrets({ PREREG_URL: f.url(), PREREG_ON_ERROR: 'deny', ...f.over }) }));
          assert.match(r.logs[0], /^prereg: error /);
          assert.match(r.logs[0], f.log);
          assertDenied(r, GENERIC);
          if (f.maxMs) assert.ok(r.ms < f.maxMs, `took ${r.ms} ms`);
        });
        test(`${f.desc}: allow (default), roles from app_metadata when recorded`, async () => {
          const email = h.uniqueEmail('jo');
          await h.register(f.on ? f.on() : env.svc, { email, roles: ['viewer'] });
          const bare = await login(run, spec({ email, sec: secrets({ PREREG_URL: f.url(), ...f.over }) }));
          assert.match(bare.logs[0], /^prereg: error /);
          assert.match(bare.logs[0], f.log);
          assertNothing(bare);
          if (f.maxMs) assert.ok(bare.ms < f.maxMs, `took ${bare.ms} ms`);
          const withCache = await login(run, spec({ email, appMetadata: cached, sec: secrets({ PREREG_URL: f.url(), PREREG_ON_ERROR: 'allow', ...f.over }) }));
          assertRoles(withCache, ['viewer']);
          assert.deepEqual(withCache.metadata, []);
        });
      }
    });

    describe('signed requests (Standard Webhooks)', () => {
      test('accepted by a service that requires signatures', async () => {
        const email = h.uniqueEmail('ka');
        await h.register(env.strict, { email, roles: ['signed-role'] });
        const sec = secrets({ PREREG_URL: env.strictPass.url, PREREG_SIGNING_SECRET: env.signing });
        const userID = h.uniqueUser();
        assertRoles(await login(run, spec({ userID, email, sec })), ['signed-role']);
        const r2 = await login(run, spec({ userID, email, sec }));
        assertRoles(r2, ['signed-role']);
        assert.match(r2.logs[0], /^prereg: already_granted /);

        const sent = env.strictPass.requests.filter((q) => JSON.parse(q.body).user_id === userID);
        assert.equal(sent.length, 2);
        const key = Buffer.from(env.signing.slice('whsec_'.length), 'base64');
        for (const q of sent) {
          const id = q.headers['webhook-id'];
          const ts = q.headers['webhook-timestamp'];
          assert.match(ts, /^\d+$/);
          assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 60);
          const want = crypto.createHmac('sha256', key).update(`${id}.${ts}.${q.body}`).digest('base64');
          assert.equal(q.headers['webhook-signature'], `v1,${want}`);
        }
        assert.notEqual(sent[0].headers['webhook-id'], sent[1].headers['webhook-id'], 'webhook-id must be fresh per request');
      });

      test('signing does not disturb a service that does not require it', async () => {
        const email = h.uniqueEmail('lu');
        await h.register(env.svc, { email, roles: ['viewer'] });
        assertRoles(await login(run, spec({ email, sec: secrets({ PREREG_SIGNING_SECRET: env.signing }) })), ['viewer']);
      });
    });
  });
}
