'use strict';
// Shared pieces for the Action and Rule tests: the real prereg binary, small
// HTTP proxies that misbehave on purpose, and adapters that run the real
// post-login.js and rule.js the way Auth0 does and report what they did in
// one shape. Node's test runner also loads this file as a test file (it sits
// under test/); it defines no tests, so that is harmless.

const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');

const repoRoot = path.resolve(__dirname, '..', '..');

/** secret returns a random 40-character string usable as hook secret or admin token. */
function secret() {
  return crypto.randomBytes(30).toString('base64url').slice(0, 40);
}

/** whsec returns a fresh Standard Webhooks secret. */
function whsec() {
  return `whsec_${crypto.randomBytes(32).toString("base64")}`;
}

/** uniqueEmail returns an address no other test uses. */
function uniqueEmail(name) {
  return `${name}.${crypto.randomBytes(4).toString('hex')}@Example.com`;
}

/** uniqueUser returns a fresh Auth0-like user_id. */
function uniqueUser() {
  return `auth0|${crypto.randomBytes(12).toString('hex')}`;
}

/**
 * buildBinary builds ./cmd/prereg into a temporary directory and returns its
 * path; PREREG_BIN names an already built binary to use instead.
 */
function buildBinary(dir) {
  if (process.env.PREREG_BIN) return path.resolve(process.env.PREREG_BIN);
  const bin = path.join(dir, 'prereg');
  execFileSync('go', ['build', '-o', bin, './cmd/prereg'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  return bin;
}

/**
 * startService runs `prereg serve` on a free loopback port and resolves once it
 * prints its listening line. extra are additional serve flags.
 */
function startService(bin, dir, name, { hookSecret, adminToken, extra = [] }) {
  const args = ['serve', '--addr', '127.0.0.1:0', '--db', path.join(dir, `${name}.db`),
    '--hook-secrets', hookSecret, '--admin-token', adminToken, ...extra];
  const proc = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${name}: no listening line within 20 s\nstdout: ${out}\nstderr: ${err}`));
    }, 20000);
    proc.stderr.on('data', (c) => { err += c; });
    proc.stdout.on('data', (c) => {
      out += c;
      const m = /prereg listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1],
          adminToken,
          hookSecret,
          stderr: () => err,
          stop: () => stopProcess(proc),
        });
      }
    });
    proc.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${name}: exited (${code ?? sig}) before listening\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

function stopProcess(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => { clearTimeout(t); resolve(); });
    proc.kill('SIGTERM');
  });
}

/** register creates one registration through the admin API and returns the record. */
async function register(svc, reg) {
  const res = await fetch(`${svc.url}/v1/registrations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${svc.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(reg),
  });
  const text = await res.text();
  assert.ok(res.status === 201 || res.status === 200, `POST /v1/registrations ${JSON.stringify(reg)}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** getRegistration reads one registration through the admin API. */
async function getRegistration(svc, id) {
  const res = await fetch(`${svc.url}/v1/registrations/${encodeURIComponent(id)}`, {
    headers: { authorization: `Bearer ${svc.adminToken}` },
  });
  const text = await res.text();
  assert.equal(res.status, 200, `GET /v1/registrations/${id}: ${text}`);
  return JSON.parse(text);
}

/** revoke revokes one registration through the admin API (force: also a granted one). */
async function revoke(svc, id, { force = false } = {}) {
  const res = await fetch(`${svc.url}/v1/registrations/${encodeURIComponent(id)}${force ? '?force=true' : ''}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${svc.adminToken}` },
  });
  const text = await res.text();
  assert.ok(res.status >= 200 && res.status < 300, `DELETE /v1/registrations/${id}: ${res.status} ${text}`);
}

/**
 * startProxy listens on a loopback port in front of target. It records every
 * request (headers and body) and then, depending on mode: forwards it
 * (passthrough, optionally after delayMs), or answers status with body itself.
 */
function startProxy(target, { delayMs = 0, status = 0, body = '' } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      requests.push({ method: req.method, url: req.url, headers: req.headers, body: raw.toString('utf8') });
      const answer = () => {
        if (status) {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(body);
          return;
        }
        const up = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (ur) => {
          res.writeHead(ur.statusCode, ur.headers);
          ur.pipe(res);
        });
        up.on('error', () => { res.destroy(); });
        up.end(raw);
      };
      if (delayMs) setTimeout(answer, delayMs).unref();
      else answer();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        requests,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

/** closedURL returns a loopback URL on which nothing listens. */
function closedURL() {
  return new Promise((resolve) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(`http://127.0.0.1:${port}`));
    });
  });
}

/**
 * spec describes one login independently of Action or Rule:
 * {user: {user_id, email, email_verified, app_metadata}, organization: {id, name} | undefined,
 *  connection: {id, name, strategy} | undefined, protocol, secrets}.
 */

/** actionEvent builds an event shaped like Auth0's documented post-login event. */
function actionEvent(spec) {
  const user = { user_id: spec.user.user_id, app_metadata: spec.user.app_metadata || {}, user_metadata: {}, identities: [] };
  if ('email' in spec.user) user.email = spec.user.email;
  if ('email_verified' in spec.user) user.email_verified = spec.user.email_verified;
  const event = {
    user,
    connection: spec.connection,
    transaction: { protocol: spec.protocol || 'oidc-basic-profile', requested_scopes: ['openid', 'profile', 'email'] },
    stats: { logins_count: spec.logins || 1 },
    client: { client_id: 'client123', name: 'test app' },
    request: { ip: '127.0.0.1', method: 'GET' },
    tenant: { id: 'tenant' },
    secrets: spec.secrets,
    authorization: { roles: [] },
  };
  if (spec.organization) event.organization = { display_name: spec.organization.name, metadata: {}, ...spec.organization };
  return event;
}

/** withLogs runs fn with console.log captured and returns [result, lines]. */
async function withLogs(fn) {
  const lines = [];
  const orig = console.log;
  console.log = (...args) => { lines.push(args.map(String).join(' ')); };
  try {
    return [await fn(), lines];
  } finally {
    console.log = orig;
  }
}

/**
 * runAction runs the real post-login.js on spec and reports
 * {denied, idClaims, accessClaims, metadata, logs, ms}.
 */
async function runAction(spec) {
  const { onExecutePostLogin } = require('../post-login.js');
  const out = { denied: null, idClaims: {}, accessClaims: {}, metadata: [], logs: [], ms: 0 };
  const api = {
    access: { deny: (reason) => { assert.equal(out.denied, null, 'deny called twice'); out.denied = reason; return api; } },
    user: {
      setAppMetadata: (k, v) => { assert.equal(k, 'prereg'); out.metadata.push(structuredClone(v)); return api; },
      setUserMetadata: () => { throw new Error('the Action must not touch user_metadata'); },
    },
    idToken: { setCustomClaim: (k, v) => { out.idClaims[k] = structuredClone(v); return api; } },
    accessToken: { setCustomClaim: (k, v) => { out.accessClaims[k] = structuredClone(v); return api; } },
  };
  const start = performance.now();
  const [ret, logs] = await withLogs(() => onExecutePostLogin(actionEvent(spec), api));
  out.ms = performance.now() - start;
  assert.equal(ret, undefined);
  out.logs = logs;
  return out;
}

class UnauthorizedError extends Error {}

let ruleSource;

/**
 * runRule runs the real rule.js on spec inside a fresh vm context that offers
 * what Auth0's Rules sandbox offers (configuration, auth0, UnauthorizedError,
 * require) and reports the same shape as runAction.
 */
function runRule(spec) {
  ruleSource ??= fs.readFileSync(path.join(__dirname, '..', 'rule.js'), 'utf8');
  const out = { denied: null, idClaims: {}, accessClaims: {}, metadata: [], logs: [], ms: 0 };
  const sandbox = {
    configuration: { ...spec.secrets },
    UnauthorizedError,
    require,
    setTimeout,
    clearTimeout,
    console: { log: (...args) => out.logs.push(args.map(String).join(' ')) },
    auth0: {
      users: {
        updateAppMetadata: (id, md) => {
          assert.equal(id, spec.user.user_id);
          out.metadata.push(structuredClone(md.prereg));
          return Promise.resolve();
        },
      },
    },
  };
  const rule = vm.runInNewContext(`(${ruleSource})`, sandbox, { filename: 'rule.js' });
  const user = { user_id: spec.user.user_id, app_metadata: structuredClone(spec.user.app_metadata || {}), user_metadata: {} };
  if ('email' in spec.user) user.email = spec.user.email;
  if ('email_verified' in spec.user) user.email_verified = spec.user.email_verified;
  const context = {
    clientID: 'client123',
    protocol: spec.protocol || 'oidc-basic-profile',
    connection: spec.connection && spec.connection.name,
    connectionStrategy: spec.connection && spec.connection.strategy,
    stats: { loginsCount: spec.logins || 1 },
    idToken: {},
    accessToken: {},
    request: { ip: '127.0.0.1' },
  };
  if (spec.organization) context.organization = { display_name: spec.organization.name, metadata: {}, ...spec.organization };
  const start = performance.now();
  return new Promise((resolve, reject) => {
    let calls = 0;
    const timer = setTimeout(() => reject(new Error('rule never called back')), 10000);
    rule(user, context, (err, u, c) => {
      calls++;
      clearTimeout(timer);
      // A second callback would be a bug Auth0 reports as an error; give it a tick to show.
      setImmediate(() => {
        try {
          assert.equal(calls, 1, 'callback called more than once');
          out.ms = performance.now() - start;
          if (err) {
            assert.ok(err instanceof UnauthorizedError, `rule failed with ${err}`);
            out.denied = err.message;
          } else {
            assert.equal(u, user);
            assert.equal(c, context);
            // Values built inside the vm belong to another realm: clone them
            // so deepStrictEqual compares contents, not prototypes.
            for (const [k, v] of Object.entries(c.idToken)) out.idClaims[k] = structuredClone(v);
            for (const [k, v] of Object.entries(c.accessToken)) out.accessClaims[k] = structuredClone(v);
            if (out.metadata.length) assert.deepEqual(structuredClone(u.app_metadata.prereg), out.metadata[0]);
          }
          resolve(out);
        } catch (e) {
          reject(e);
        }
      });
    });
  });
}

/** tmpDir makes a temporary directory removed by the returned cleanup. */
function tmpDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'prereg-actions-'));
}

module.exports = {
  actionEvent, buildBinary, closedURL, getRegistration, register, repoRoot, revoke, runAction, runRule,
  secret, startProxy, startService, tmpDir, uniqueEmail, uniqueUser, UnauthorizedError, whsec,
};
