/**
 * prereg post-login Action (Auth0 Actions, Node 22 runtime, trigger "Login / Post Login").
 *
 * On every login it asks the prereg service which pre-registered roles belong to this
 * person (POST <PREREG_URL>/v1/hooks/post-login), records the answer in the user's
 * app_metadata and puts the roles into the ID and access tokens. Plain JavaScript, no npm
 * dependency: global fetch with an AbortController timeout, and Node's own crypto.
 *
 * Secrets (Actions > this Action > Secrets):
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
 *                           roles go into "<namespace>roles" (Auth0 drops un-namespaced
 *                           restricted claims such as "roles").
 *   PREREG_SIGNING_SECRET   optional, "whsec_<base64>". When set, every request is also signed
 *                           the Standard Webhooks way (webhook-id, webhook-timestamp,
 *                           webhook-signature: v1,<base64 HMAC-SHA256>); the service must list
 *                           the same secret in --signing-secrets.
 *
 * What it writes on the user (only when it changed, to spare Management API writes):
 *
 *   app_metadata.prereg = {
 *     "roles":  [...],   // tenant-wide roles (grants without an organization)
 *     "grants": [{"registration_id": "...", "organization_id": "" | "org_...", "roles": [...]}],
 *     "updated_at": "2026-11-29T02:13:31.000Z"
 *   }
 *
 * The claim "<namespace>roles" holds the roles of this login: tenant-wide roles plus those of
 * event.organization. On a refresh-token exchange the service is not called: the claim is
 * recomputed from app_metadata.prereg.grants for the refresh token's organization.
 *
 * Every run writes exactly one console.log line (no secret, email masked as a***@example.com).
 */
'use strict';

const crypto = require('crypto');

const DEFAULT_TIMEOUT_MS = 3000;
const MAX_TIMEOUT_MS = 15000;
const MAX_ANSWER_BYTES = 1 << 20;
const DEFAULT_NAMESPACE = 'https://prereg/';
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
  const who = `user=${user.user_id || '-'} email=${maskEmail(user.email)} org=${orgID || '-'}`;
  const ns = typeof secrets.PREREG_CLAIM_NAMESPACE === 'string' && secrets.PREREG_CLAIM_NAMESPACE.trim() !== ''
    ? secrets.PREREG_CLAIM_NAMESPACE.trim()
    : DEFAULT_NAMESPACE;
  const onError = lower(secrets.PREREG_ON_ERROR) === 'deny' ? 'deny' : 'allow';
  const onUnverified = lower(secrets.PREREG_ON_UNVERIFIED) === 'allow' ? 'allow' : 'deny';

  try {
    // A refresh-token exchange is no login: nothing new can be claimed, and the service
    // must not sit on the path of every token refresh. Re-issue what was recorded.
    if (event.transaction && event.transaction.protocol === 'oauth2-refresh-token') {
      const cached = rolesFromMetadata(user.app_metadata, orgID);
      if (cached) {
        setRolesClaim(api, ns, cached);
        console.log(`prereg: refresh ${who} roles=${cached.length} (from app_metadata)`);
      } else {
        console.log(`prereg: refresh ${who} no recorded grants`);
      }
      return;
    }

    let answer;
    try {
      answer = await callService(event, secrets);
    } catch (err) {
      return failed(api, onError, ns, user, orgID, `${who} ${describe(err)}`);
    }

    switch (answer.outcome) {
      case 'granted':
      case 'already_granted': {
        const written = recordGrants(api, user.app_metadata, answer.grants);
        setRolesClaim(api, ns, answer.roles);
        console.log(`prereg: ${answer.outcome} ${who} roles=${answer.roles.length} grants=${answer.grants.length} app_metadata=${written ? 'written' : 'unchanged'}`);
        return;
      }
      case 'email_unverified':
        if (onUnverified === 'allow') {
          console.log(`prereg: email_unverified ${who} allowed without roles (PREREG_ON_UNVERIFIED=allow)`);
          return;
        }
        console.log(`prereg: email_unverified ${who} denied`);
        api.access.deny(MSG_VERIFY);
        return;
      default: // no_match
        console.log(`prereg: no_match ${who}`);
        return;
    }
  } catch (err) {
    // Last line of defence: a bug or an unexpected api failure must not surface as an
    // unhandled Action error, which Auth0 shows as a failed login regardless of policy.
    return failed(api, onError, ns, user, orgID, `${who} unexpected ${describe(err)}`);
  }
};

/** failed applies PREREG_ON_ERROR and logs the single line of this run. */
function failed(api, onError, ns, user, orgID, detail) {
  try {
    if (onError === 'deny') {
      console.log(`prereg: error ${detail} -> denied (PREREG_ON_ERROR=deny)`);
      api.access.deny(MSG_ERROR);
      return;
    }
    const cached = rolesFromMetadata(user.app_metadata, orgID);
    if (cached) setRolesClaim(api, ns, cached);
    console.log(`prereg: error ${detail} -> allowed${cached ? ` with ${cached.length} roles from app_metadata` : ''} (PREREG_ON_ERROR=allow)`);
  } catch (_) {
    // Nothing sensible is left to do; never throw out of the Action.
  }
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
    email: typeof user.email === 'string' && user.email !== '' ? user.email : undefined,
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
 * recordGrants writes app_metadata.prereg when the grants differ from what is
 * recorded, and reports whether it wrote.
 */
function recordGrants(api, appMetadata, grants) {
  const prev = appMetadata && appMetadata.prereg;
  const tenantRoles = unique(grants.filter((g) => g.organization_id === '').flatMap((g) => g.roles));
  if (prev && sameJSON(prev.grants, grants) && sameJSON(prev.roles, tenantRoles)) return false;
  api.user.setAppMetadata('prereg', { roles: tenantRoles, grants, updated_at: new Date().toISOString() });
  return true;
}

/**
 * rolesFromMetadata recomputes the roles of a login into orgID from the recorded
 * grants: tenant-wide ones plus those of orgID. It returns null when nothing is recorded.
 */
function rolesFromMetadata(appMetadata, orgID) {
  const md = appMetadata && appMetadata.prereg;
  if (!md || !Array.isArray(md.grants)) return null;
  const roles = [];
  for (const g of md.grants) {
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

/** maskEmail keeps the first character and the domain: a***@example.com. */
function maskEmail(email) {
  if (typeof email !== 'string' || email === '') return '-';
  const e = email.trim().toLowerCase();
  const at = e.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${e[0]}***${e.slice(at)}`;
}

function describe(err) {
  return String((err && err.message) || err).slice(0, 200);
}

function lower(v) {
  return typeof v === 'string' ? v.trim().toLowerCase() : '';
}

function unique(list) {
  return list.filter((v, i) => list.indexOf(v) === i);
}

function sameJSON(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}
