/**
 * prereg post-login Action (Auth0 Actions, Node 22 runtime, trigger "Login / Post Login").
 *
 * On every login it asks the prereg service which pre-registered roles belong to this
 * person (POST <PREREG_URL>/v1/hooks/post-login), records the answer in the user's
 * app_metadata and puts the roles into the ID and access tokens. Plain JavaScript, no npm
 * dependency: global fetch with an AbortController timeout, and Node's own crypto.
 *
 * Secrets (Actions > this Action > Secrets; never put them in the code):
 *
 *   PREREG_URL              required. Base URL of the service, e.g. https://prereg.example.com
 *                           (a trailing slash is ignored).
 *   PREREG_SECRET           required. One of the service's hook secrets, sent as
 *                           "Authorization: Bearer <secret>".
 *   PREREG_TIMEOUT_MS       optional, default 3000. How long to wait for the whole answer, in
 *                           milliseconds (1 to 15000; Auth0 allows a whole login flow 20 s).
 *   PREREG_ON_ERROR         optional, "allow" (default) or "deny". What to do when the service
 *                           cannot answer (timeout, network error, non-200, unreadable answer,
 *                           missing PREREG_URL/PREREG_SECRET). "allow" lets the login through
 *                           with the roles last recorded in app_metadata (if any); "deny" stops
 *                           it with a generic "try again later" message.
 *   PREREG_ON_UNVERIFIED    optional, "deny" (default) or "allow". What to do when roles wait
 *                           for this address but the email is not verified: "deny" asks the
 *                           person to verify the address first; "allow" lets the login through
 *                           without roles (the roles are granted on a later, verified login).
 *   PREREG_CLAIM_NAMESPACE  optional, default "https://prereg/". Prefix of the token claim: the
 *                           roles go into "<namespace>roles". It must be an http(s) URL ending
 *                           in "/" whose host is not auth0.com, webtask.io or webtask.run (nor a
 *                           subdomain): Auth0 silently drops such claims. Otherwise the default
 *                           is used and a warning logged.
 *   PREREG_SIGNING_SECRET   optional, "whsec_<base64>". When set, every request is also signed
 *                           the Standard Webhooks way (webhook-id, webhook-timestamp,
 *                           webhook-signature: v1,<base64 HMAC-SHA256>); the service must list
 *                           the same secret in --signing-secrets.
 *
 * What it writes on the user: after every answer to a call with an email (no_match and
 * email_unverified included), app_metadata.prereg mirrors the answer's grants, so a revoked
 * grant disappears at the next login; null removes it when there are none. Written only when
 * it differs from what the user holds, to spare Management API writes:
 *
 *   app_metadata.prereg = [{"registration_id": "...", "organization_id": "" | "org_...", "roles": [...]}]
 *
 * The write stays under 8 KB (Auth0 allows 10 KB of metadata per user): tenant-wide grants
 * and those of this login's organization go first, the rest are left out with a warning.
 *
 * The claim "<namespace>roles" holds the roles of this login: tenant-wide roles plus those of
 * event.organization. On a refresh-token exchange the service is not called: the claim is
 * recomputed from app_metadata.prereg for the refresh token's organization.
 *
 * Every run logs one line, plus a "prereg: warning: ..." line for a rejected namespace or
 * grants left out; each under 256 characters, with no secret and the email masked
 * (a***@example.com).
 */
'use strict';

const crypto = require('crypto');

const DEFAULT_TIMEOUT_MS = 3000;
const MAX_TIMEOUT_MS = 15000;
const MAX_ANSWER_BYTES = 1 << 20;
const DEFAULT_NAMESPACE = 'https://prereg/';
// Auth0 drops custom claims whose namespace is on its own domains.
const RESERVED_HOSTS = ['auth0.com', 'webtask.io', 'webtask.run'];
// What one login writes into app_metadata stays under this many bytes of JSON
// (Auth0 keeps at most 10 KB of metadata per user, shared with other writers).
const MAX_METADATA_BYTES = 8 * 1024;
// Auth0 keeps no more of a console.log line.
const MAX_LOG_CHARS = 255;
const OUTCOMES = ['granted', 'already_granted', 'email_unverified', 'no_match'];

const MSG_VERIFY = 'Please verify your email address (look for the verification email in your inbox), then sign in again.';
const MSG_ERROR = 'We could not complete your sign-in right now. Please try again in a few minutes.';

/**
 * Handler that will be called during the execution of a PostLogin flow.
 *
 * @param {Event} event - Details about the user and the context in which they are logging in.
 * @param {PostLoginAPI} api - Interface whose methods can be used to change the behavior of the login.
 */
exports.onExecutePostLogin = async (event, api) => {
  const secrets = (event && event.secrets) || {};
  const user = (event && event.user) || {};
  const orgID = (event && event.organization && event.organization.id) || '';
  const who = `user=${clip(user.user_id || '-', 48)} email=${clip(maskEmail(user.email), 40)} org=${clip(orgID || '-', 32)}`;
  const namespace = claimNamespace(secrets.PREREG_CLAIM_NAMESPACE);
  const ns = namespace.value;
  const onError = lower(secrets.PREREG_ON_ERROR) === 'deny' ? 'deny' : 'allow';
  const onUnverified = lower(secrets.PREREG_ON_UNVERIFIED) === 'allow' ? 'allow' : 'deny';
  const warnings = namespace.problem ? [`PREREG_CLAIM_NAMESPACE ${namespace.problem}; using ${DEFAULT_NAMESPACE}`] : [];

  try {
    // A refresh-token exchange is no login: nothing new can be claimed, and the service
    // must not sit on the path of every token refresh. Re-issue what was recorded.
    if (event.transaction && event.transaction.protocol === 'oauth2-refresh-token') {
      const cached = rolesFromMetadata(user.app_metadata, orgID);
      if (cached) setRolesClaim(api, ns, cached);
      return logRun(`prereg: refresh ${who} ${cached ? `roles=${cached.length} (from app_metadata)` : 'no recorded grants'}`, warnings);
    }

    let answer;
    try {
      answer = await callService(event, secrets);
    } catch (err) {
      return failed(api, onError, ns, user, orgID, `${who} ${describe(err)}`, warnings);
    }

    // Only a call with an email can tell which grants this user holds: the service
    // answers no_match to a call without one, whatever was granted earlier.
    let md = '';
    if (hasEmail(user)) {
      const fit = fitGrants(answer.grants, orgID);
      if (fit.dropped) warnings.push(`app_metadata ${who} left out ${fit.dropped} of ${answer.grants.length} grants to stay under 8 KB`);
      md = ` app_metadata=${recordGrants(api, user.app_metadata, fit.grants) ? 'written' : 'unchanged'}`;
    }
    const line = `prereg: ${answer.outcome} ${who} roles=${answer.roles.length} grants=${answer.grants.length}${md}`;

    switch (answer.outcome) {
      case 'granted':
      case 'already_granted':
        setRolesClaim(api, ns, answer.roles);
        return logRun(line, warnings);
      case 'email_unverified':
        if (onUnverified === 'allow') return logRun(`${line} allowed without roles (PREREG_ON_UNVERIFIED=allow)`, warnings);
        api.access.deny(MSG_VERIFY);
        return logRun(`${line} denied`, warnings);
      default: // no_match
        return logRun(line, warnings);
    }
  } catch (err) {
    // Last line of defence: a bug or an unexpected api failure must not surface as an
    // unhandled Action error, which Auth0 shows as a failed login regardless of policy.
    return failed(api, onError, ns, user, orgID, `${who} unexpected ${describe(err)}`, warnings);
  }
};

/** failed applies PREREG_ON_ERROR and logs this run. */
function failed(api, onError, ns, user, orgID, detail, warnings) {
  try {
    if (onError === 'deny') {
      api.access.deny(MSG_ERROR);
      return logRun(`prereg: error ${detail} -> denied (PREREG_ON_ERROR=deny)`, warnings);
    }
    const cached = rolesFromMetadata(user.app_metadata, orgID);
    if (cached) setRolesClaim(api, ns, cached);
    logRun(`prereg: error ${detail} -> allowed${cached ? ` with ${cached.length} roles from app_metadata` : ''} (PREREG_ON_ERROR=allow)`, warnings);
  } catch (_) {
    // Nothing sensible is left to do; never throw out of the Action.
  }
}

/**
 * logRun writes the run's line, then one line per warning, each cut to what
 * Auth0 keeps; the outcome goes first so that a cut never hides it.
 */
function logRun(line, warnings) {
  console.log(clip(line, MAX_LOG_CHARS));
  for (const w of warnings) console.log(clip(`prereg: warning: ${w}`, MAX_LOG_CHARS));
}

/**
 * callService sends the login to the service and returns a validated answer
 * {outcome, roles, grants}. It throws on any failure (with a short, secret-free message).
 */
async function callService(event, secrets) {
  const base = typeof secrets.PREREG_URL === 'string' ? secrets.PREREG_URL.trim().replace(/\/+$/, '') : '';
  const token = typeof secrets.PREREG_SECRET === 'string' ? secrets.PREREG_SECRET.trim() : '';
  if (!base || !token) throw new Error('misconfigured: PREREG_URL and PREREG_SECRET are required');

  const user = event.user || {};
  const login = {
    user_id: user.user_id,
    email: hasEmail(user) ? user.email : undefined,
    email_verified: user.email_verified === true,
    organization_id: (event.organization && event.organization.id) || undefined,
    connection: (event.connection && event.connection.name) || undefined,
  };
  const body = JSON.stringify(login);
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json',
    authorization: `Bearer ${token}`,
  };
  if (secrets.PREREG_SIGNING_SECRET) Object.assign(headers, signHeaders(secrets.PREREG_SIGNING_SECRET, body));

  const ms = timeoutMs(secrets.PREREG_TIMEOUT_MS);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  let status, text;
  try {
    // The timer covers reading the body too: a service that sends headers and then
    // stalls must not hold the login.
    const res = await fetch(`${base}/v1/hooks/post-login`, {
      method: 'POST',
      headers,
      body,
      signal: controller.signal,
      redirect: 'error', // never forward the bearer secret elsewhere
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    if (controller.signal.aborted) throw new Error(`timeout after ${ms} ms`);
    throw new Error(`network error: ${(err && err.cause && err.cause.code) || (err && err.message) || err}`);
  } finally {
    clearTimeout(timer);
  }
  if (status !== 200) throw new Error(`status ${status}`);
  if (text.length > MAX_ANSWER_BYTES) throw new Error('answer too large');
  let answer;
  try {
    answer = JSON.parse(text);
  } catch (_) {
    throw new Error('answer is not JSON');
  }
  return validAnswer(answer);
}

/** validAnswer checks the shape the rest of the Action relies on. */
function validAnswer(a) {
  if (!a || typeof a !== 'object' || !OUTCOMES.includes(a.outcome)) throw new Error('answer has no known outcome');
  const roles = Array.isArray(a.roles) ? a.roles.filter((r) => typeof r === 'string') : [];
  const grants = Array.isArray(a.grants)
    ? a.grants
      .filter((g) => g && typeof g === 'object' && (g.status === undefined || g.status === 'granted'))
      .map((g) => ({
        registration_id: typeof g.registration_id === 'string' ? g.registration_id : '',
        organization_id: typeof g.organization_id === 'string' ? g.organization_id : '',
        roles: Array.isArray(g.roles) ? g.roles.filter((r) => typeof r === 'string') : [],
      }))
    : [];
  return { outcome: a.outcome, roles, grants };
}

/**
 * fitGrants keeps the grants whose JSON fits MAX_METADATA_BYTES, taking the
 * tenant-wide ones first, then those of orgID (the refresh path of this login
 * needs them), then the rest; kept grants stay in the answer's order.
 */
function fitGrants(grants, orgID) {
  const rank = (g) => (g.organization_id === '' ? 0 : g.organization_id === orgID ? 1 : 2);
  const order = grants.map((_, i) => i).sort((a, b) => rank(grants[a]) - rank(grants[b]) || a - b);
  const keep = new Set();
  let size = Buffer.byteLength(JSON.stringify({ prereg: [] }));
  for (const i of order) {
    const n = Buffer.byteLength(JSON.stringify(grants[i])) + (keep.size > 0 ? 1 : 0);
    if (size + n >= MAX_METADATA_BYTES) continue;
    keep.add(i);
    size += n;
  }
  return { grants: grants.filter((_, i) => keep.has(i)), dropped: grants.length - keep.size };
}

/**
 * recordGrants makes app_metadata.prereg the given grants (null when there are
 * none) unless the user already holds exactly that, and reports whether it wrote.
 */
function recordGrants(api, appMetadata, grants) {
  const next = grants.length > 0 ? grants : null;
  const prev = appMetadata && appMetadata.prereg !== undefined ? appMetadata.prereg : null;
  if (next === null ? prev === null : sameGrants(prev, next)) return false;
  api.user.setAppMetadata('prereg', next);
  return true;
}

/** sameGrants compares held grants with new ones field by field (stored key order may differ). */
function sameGrants(held, grants) {
  if (!Array.isArray(held) || held.length !== grants.length) return false;
  return grants.every((g, i) => {
    const h = held[i];
    return !!h && typeof h === 'object' && Object.keys(h).length === 3 &&
      h.registration_id === g.registration_id && h.organization_id === g.organization_id &&
      JSON.stringify(h.roles) === JSON.stringify(g.roles);
  });
}

/**
 * rolesFromMetadata recomputes the roles of a login into orgID from the recorded
 * grants: tenant-wide ones plus those of orgID. It reads the grants array and the
 * earlier {roles, grants, updated_at} object, and returns null when nothing is recorded.
 */
function rolesFromMetadata(appMetadata, orgID) {
  const md = appMetadata && appMetadata.prereg;
  const grants = Array.isArray(md) ? md : md && Array.isArray(md.grants) ? md.grants : null;
  if (!grants) return null;
  const roles = [];
  for (const g of grants) {
    if (!g || !Array.isArray(g.roles)) continue;
    const org = typeof g.organization_id === 'string' ? g.organization_id : '';
    if (org !== '' && org !== orgID) continue;
    for (const r of g.roles) if (typeof r === 'string' && !roles.includes(r)) roles.push(r);
  }
  return roles;
}

function setRolesClaim(api, ns, roles) {
  api.idToken.setCustomClaim(`${ns}roles`, roles);
  api.accessToken.setCustomClaim(`${ns}roles`, roles);
}

/**
 * claimNamespace returns {value, problem}: the configured namespace when it is
 * an http(s) URL ending in "/" on a host Auth0 keeps claims for, else the
 * default and what is wrong.
 */
function claimNamespace(v) {
  if (typeof v !== 'string' || v.trim() === '') return { value: DEFAULT_NAMESPACE };
  const ns = v.trim();
  let url;
  try {
    url = new URL(ns);
  } catch (_) {
    return { value: DEFAULT_NAMESPACE, problem: 'is not a URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { value: DEFAULT_NAMESPACE, problem: 'is not an http(s) URL' };
  if (!ns.endsWith('/')) return { value: DEFAULT_NAMESPACE, problem: 'does not end in /' };
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  const reserved = RESERVED_HOSTS.find((d) => host === d || host.endsWith(`.${d}`));
  if (reserved) return { value: DEFAULT_NAMESPACE, problem: `is on ${reserved}, whose claims Auth0 drops` };
  return { value: ns };
}

/**
 * signHeaders signs body the Standard Webhooks way: HMAC-SHA256 keyed with the
 * base64-decoded part of whsec_<base64>, over "<id>.<timestamp>.<body>".
 */
function signHeaders(secret, body) {
  const key = Buffer.from(String(secret).trim().replace(/^whsec_/, ''), 'base64');
  if (key.length === 0) throw new Error('misconfigured: PREREG_SIGNING_SECRET is not whsec_<base64>');
  const id = `msg_${crypto.randomBytes(16).toString('hex')}`;
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = crypto.createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` };
}

function timeoutMs(v) {
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n <= 0) return DEFAULT_TIMEOUT_MS;
  return Math.min(n, MAX_TIMEOUT_MS);
}

function hasEmail(user) {
  return typeof user.email === 'string' && user.email !== '';
}

/** maskEmail keeps the first character and the domain: a***@example.com. */
function maskEmail(email) {
  if (typeof email !== 'string' || email === '') return '-';
  const e = email.trim().toLowerCase();
  const at = e.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${e[0]}***${e.slice(at)}`;
}

/**
 * clip makes s safe for one log line of at most max characters: control
 * characters become "?" (no forged lines) and a longer text ends in "...".
 */
function clip(s, max) {
  const t = String(s).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  if (t.length <= max) return t;
  let end = max - 3;
  const c = t.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--; // never half a surrogate pair
  return `${t.slice(0, end)}...`;
}

function describe(err) {
  return clip((err && err.message) || err, 120);
}

function lower(v) {
  return typeof v === 'string' ? v.trim().toLowerCase() : '';
}
