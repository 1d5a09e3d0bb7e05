function preregRule(user, context, callback) {
  /*
   * prereg as a legacy Auth0 Rule: the same behaviour as actions/post-login.js, for tenants
   * on a deployment that still runs Rules. Rules were never offered to tenants created from
   * 16 October 2023, became read-only on 18 November 2024 and stopped running in Auth0's
   * public cloud on 18 November 2026: the post-login Action is the supported path.
   *
   * Settings (Rules > Settings, read through the global `configuration`):
   *   PREREG_URL              required, base URL of the service (trailing slash ignored).
   *   PREREG_SECRET           required, a hook secret, sent as "Authorization: Bearer ...".
   *   PREREG_TIMEOUT_MS       optional, default 3000 (1 to 15000): wait for the whole answer.
   *   PREREG_ON_ERROR         optional, "allow" (default) or "deny": when the service cannot
   *                           answer. "allow" re-issues roles recorded in app_metadata, if any.
   *   PREREG_ON_UNVERIFIED    optional, "deny" (default) or "allow": roles wait for this
   *                           address but the email is not verified.
   *   PREREG_CLAIM_NAMESPACE  optional, default "https://prereg/": claim "<namespace>roles"; an
   *                           http(s) URL ending in "/", not on auth0.com, webtask.io or
   *                           webtask.run (else the default, with a warning).
   *   PREREG_SIGNING_SECRET   optional, "whsec_<base64>": sign requests the Standard Webhooks way.
   *
   * After every answer to a call with an email it makes user.app_metadata.prereg the
   * answer's grants, [{registration_id, organization_id, roles}] (null when there are none,
   * so revoked grants disappear), through auth0.users.updateAppMetadata, only when it
   * changed, and under 8 KB (tenant-wide and this organization's grants first). Written for
   * the older Node versions Rules ran on: no syntax newer than Node 12, no global fetch;
   * Node's http/https, url and crypto modules only. Every run logs one line, plus warning
   * lines, each under 256 characters (no secret, email masked).
   */
  var crypto = require('crypto');
  var Buf = require('buffer').Buffer;
  var cfg = (typeof configuration === 'object' && configuration) || {};

  var DEFAULT_TIMEOUT_MS = 3000;
  var MAX_TIMEOUT_MS = 15000;
  var MAX_ANSWER_BYTES = 1 << 20;
  var DEFAULT_NAMESPACE = 'https://prereg/';
  var RESERVED_HOSTS = ['auth0.com', 'webtask.io', 'webtask.run']; // Auth0 drops their claims
  var MAX_METADATA_BYTES = 8 * 1024;
  var MAX_LOG_CHARS = 255;
  var OUTCOMES = ['granted', 'already_granted', 'email_unverified', 'no_match'];
  var MSG_VERIFY = 'Please verify your email address (look for the verification email in your inbox), then sign in again.';
  var MSG_ERROR = 'We could not complete your sign-in right now. Please try again in a few minutes.';

  var namespace = claimNamespace(cfg.PREREG_CLAIM_NAMESPACE);
  var ns = namespace.value;
  var warnings = namespace.problem ? ['PREREG_CLAIM_NAMESPACE ' + namespace.problem + '; using ' + DEFAULT_NAMESPACE] : [];
  var onError = lower(cfg.PREREG_ON_ERROR) === 'deny' ? 'deny' : 'allow';
  var onUnverified = lower(cfg.PREREG_ON_UNVERIFIED) === 'allow' ? 'allow' : 'deny';
  var orgID = (context && context.organization && context.organization.id) || '';
  var withEmail = typeof user.email === 'string' && user.email !== '';
  var who = 'user=' + clip(user.user_id || '-', 48) + ' email=' + clip(maskEmail(user.email), 40) + ' org=' + clip(orgID || '-', 32);

  var finished = false;
  function finish(err) {
    if (finished) return;
    finished = true;
    if (err) return callback(err);
    callback(null, user, context);
  }

  try {
    // A refresh-token exchange is no login: re-issue what was recorded, never call out.
    if (context.protocol === 'oauth2-refresh-token') {
      var cached = rolesFromMetadata(user.app_metadata, orgID);
      if (cached) setClaim(cached);
      logRun('prereg: refresh ' + who + ' ' + (cached ? 'roles=' + cached.length + ' (from app_metadata)' : 'no recorded grants'));
      return finish();
    }
    callService(function (err, answer) {
      if (err) return failed(who + ' ' + describe(err));
      try {
        handle(answer);
      } catch (e) {
        failed(who + ' unexpected ' + describe(e));
      }
    });
  } catch (e) {
    failed(who + ' unexpected ' + describe(e));
  }

  function handle(answer) {
    var line = 'prereg: ' + answer.outcome + ' ' + who + ' roles=' + answer.roles.length + ' grants=' + answer.grants.length;
    // Only a call with an email can tell which grants this user holds: the service
    // answers no_match to a call without one, whatever was granted earlier.
    if (!withEmail) return conclude(answer, line);
    var fit = fitGrants(answer.grants);
    if (fit.dropped) warnings.push('app_metadata ' + who + ' left out ' + fit.dropped + ' of ' + answer.grants.length + ' grants to stay under 8 KB');
    var next = fit.grants.length > 0 ? fit.grants : null;
    var prev = user.app_metadata && user.app_metadata.prereg !== undefined ? user.app_metadata.prereg : null;
    if (next === null ? prev === null : sameGrants(prev, next)) return conclude(answer, line + ' app_metadata=unchanged');
    user.app_metadata = user.app_metadata || {};
    user.app_metadata.prereg = next; // null removes the key: the update merges
    var p;
    try {
      p = auth0.users.updateAppMetadata(user.user_id, user.app_metadata);
    } catch (e) {
      p = Promise.reject(e);
    }
    // The claim comes from the answer, so a failed write only means the next login
    // writes it again: let this one go on.
    Promise.resolve(p).then(function () {
      conclude(answer, line + ' app_metadata=written');
    }, function (e) {
      conclude(answer, line + ' app_metadata=failed (' + describe(e) + ')');
    });
  }

  // conclude acts on the outcome once app_metadata is settled.
  function conclude(answer, line) {
    try {
      if (answer.outcome === 'granted' || answer.outcome === 'already_granted') {
        setClaim(answer.roles);
        logRun(line);
        return finish();
      }
      if (answer.outcome === 'email_unverified') {
        if (onUnverified === 'allow') {
          logRun(line + ' allowed without roles (PREREG_ON_UNVERIFIED=allow)');
          return finish();
        }
        logRun(line + ' denied');
        return finish(new UnauthorizedError(MSG_VERIFY));
      }
      logRun(line);
      finish();
    } catch (e) {
      failed(who + ' unexpected ' + describe(e));
    }
  }

  function failed(detail) {
    try {
      if (onError === 'deny') {
        logRun('prereg: error ' + detail + ' -> denied (PREREG_ON_ERROR=deny)');
        return finish(new UnauthorizedError(MSG_ERROR));
      }
      var cached = rolesFromMetadata(user.app_metadata, orgID);
      if (cached) setClaim(cached);
      logRun('prereg: error ' + detail + ' -> allowed' +
        (cached ? ' with ' + cached.length + ' roles from app_metadata' : '') + ' (PREREG_ON_ERROR=allow)');
    } catch (e) {
      // Nothing sensible is left to do; still answer Auth0 exactly once.
    }
    finish();
  }

  // logRun logs the run's line, then its warnings, each cut to what Auth0 keeps.
  function logRun(line) {
    console.log(clip(line, MAX_LOG_CHARS));
    warnings.forEach(function (w) { console.log(clip('prereg: warning: ' + w, MAX_LOG_CHARS)); });
  }

  function callService(cb) {
    var base = typeof cfg.PREREG_URL === 'string' ? cfg.PREREG_URL.trim().replace(/\/+$/, '') : '';
    var token = typeof cfg.PREREG_SECRET === 'string' ? cfg.PREREG_SECRET.trim() : '';
    if (!base || !token) return cb(new Error('misconfigured: PREREG_URL and PREREG_SECRET are required'));
    var url;
    try {
      url = new (require('url').URL)(base + '/v1/hooks/post-login');
    } catch (e) {
      return cb(new Error('misconfigured: PREREG_URL is not a URL'));
    }
    var login = {
      user_id: user.user_id,
      email_verified: user.email_verified === true
    };
    if (withEmail) login.email = user.email;
    if (orgID) login.organization_id = orgID;
    if (context.connection) login.connection = context.connection;
    var body = JSON.stringify(login);
    var headers = {
      'content-type': 'application/json',
      'accept': 'application/json',
      'authorization': 'Bearer ' + token,
      'content-length': Buf.byteLength(body)
    };
    if (cfg.PREREG_SIGNING_SECRET) {
      var signed = signHeaders(cfg.PREREG_SIGNING_SECRET, body);
      if (signed instanceof Error) return cb(signed);
      Object.keys(signed).forEach(function (k) { headers[k] = signed[k]; });
    }
    var ms = timeoutMs(cfg.PREREG_TIMEOUT_MS);
    var done = false;
    function once(err, answer) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cb(err, answer);
    }
    var mod = url.protocol === 'http:' ? require('http') : require('https');
    var req = mod.request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || undefined,
      path: url.pathname + url.search,
      method: 'POST',
      headers: headers
    }, function (res) {
      var chunks = [];
      var size = 0;
      res.on('data', function (c) {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) {
          req.destroy();
          return once(new Error('answer too large'));
        }
        chunks.push(c);
      });
      res.on('error', function (e) { once(new Error('network error: ' + (e.code || e.message))); });
      res.on('end', function () {
        if (res.statusCode !== 200) return once(new Error('status ' + res.statusCode));
        var answer;
        try {
          answer = JSON.parse(Buf.concat(chunks).toString('utf8'));
        } catch (e) {
          return once(new Error('answer is not JSON'));
        }
        var valid = validAnswer(answer);
        if (valid instanceof Error) return once(valid);
        once(null, valid);
      });
    });
    // The timer covers connecting, sending and reading the whole answer.
    var timer = setTimeout(function () {
      once(new Error('timeout after ' + ms + ' ms'));
      req.destroy();
    }, ms);
    req.on('error', function (e) { once(new Error('network error: ' + (e.code || e.message))); });
    req.end(body);
  }

  function validAnswer(a) {
    if (!a || typeof a !== 'object' || OUTCOMES.indexOf(a.outcome) < 0) return new Error('answer has no known outcome');
    var roles = Array.isArray(a.roles) ? a.roles.filter(isString) : [];
    var grants = [];
    if (Array.isArray(a.grants)) {
      a.grants.forEach(function (g) {
        if (!g || typeof g !== 'object' || (g.status !== undefined && g.status !== 'granted')) return;
        grants.push({
          registration_id: isString(g.registration_id) ? g.registration_id : '',
          organization_id: isString(g.organization_id) ? g.organization_id : '',
          roles: Array.isArray(g.roles) ? g.roles.filter(isString) : []
        });
      });
    }
    return { outcome: a.outcome, roles: roles, grants: grants };
  }

  // fitGrants keeps the grants whose JSON fits MAX_METADATA_BYTES: tenant-wide ones
  // first, then this organization's (its refresh needs them), then the rest; kept
  // grants stay in the answer's order.
  function fitGrants(grants) {
    var rank = function (g) { return g.organization_id === '' ? 0 : g.organization_id === orgID ? 1 : 2; };
    var order = grants.map(function (g, i) { return i; });
    order.sort(function (a, b) { return rank(grants[a]) - rank(grants[b]) || a - b; });
    var keep = {};
    var kept = 0;
    var size = Buf.byteLength(JSON.stringify({ prereg: [] }));
    order.forEach(function (i) {
      var n = Buf.byteLength(JSON.stringify(grants[i])) + (kept > 0 ? 1 : 0);
      if (size + n >= MAX_METADATA_BYTES) return;
      keep[i] = true;
      kept++;
      size += n;
    });
    return { grants: grants.filter(function (g, i) { return keep[i]; }), dropped: grants.length - kept };
  }

  // sameGrants compares held grants with new ones field by field (stored key order may differ).
  function sameGrants(held, grants) {
    if (!Array.isArray(held) || held.length !== grants.length) return false;
    return grants.every(function (g, i) {
      var h = held[i];
      return !!h && typeof h === 'object' && Object.keys(h).length === 3 &&
        h.registration_id === g.registration_id && h.organization_id === g.organization_id &&
        JSON.stringify(h.roles) === JSON.stringify(g.roles);
    });
  }

  // rolesFromMetadata recomputes tenant-wide plus org roles from the recorded grants:
  // the grants array, or the earlier {roles, grants, updated_at} object.
  function rolesFromMetadata(appMetadata, org) {
    var md = appMetadata && appMetadata.prereg;
    var grants = Array.isArray(md) ? md : md && Array.isArray(md.grants) ? md.grants : null;
    if (!grants) return null;
    var roles = [];
    grants.forEach(function (g) {
      if (!g || !Array.isArray(g.roles)) return;
      var o = isString(g.organization_id) ? g.organization_id : '';
      if (o !== '' && o !== org) return;
      g.roles.forEach(function (r) { if (isString(r) && roles.indexOf(r) < 0) roles.push(r); });
    });
    return roles;
  }

  // claimNamespace returns {value, problem}: the namespace when it is an http(s) URL
  // ending in "/" on a host Auth0 keeps claims for, else the default and what is wrong.
  function claimNamespace(v) {
    if (typeof v !== 'string' || v.trim() === '') return { value: DEFAULT_NAMESPACE };
    var s = v.trim();
    var url;
    try {
      url = new (require('url').URL)(s);
    } catch (e) {
      return { value: DEFAULT_NAMESPACE, problem: 'is not a URL' };
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return { value: DEFAULT_NAMESPACE, problem: 'is not an http(s) URL' };
    if (s.charAt(s.length - 1) !== '/') return { value: DEFAULT_NAMESPACE, problem: 'does not end in /' };
    var host = url.hostname.toLowerCase().replace(/\.$/, '');
    var reserved = RESERVED_HOSTS.filter(function (d) {
      return host === d || host.slice(-(d.length + 1)) === '.' + d;
    })[0];
    if (reserved) return { value: DEFAULT_NAMESPACE, problem: 'is on ' + reserved + ', whose claims Auth0 drops' };
    return { value: s };
  }

  function setClaim(roles) {
    context.idToken = context.idToken || {};
    context.accessToken = context.accessToken || {};
    context.idToken[ns + 'roles'] = roles;
    context.accessToken[ns + 'roles'] = roles;
  }

  function signHeaders(secret, body) {
    var key = Buf.from(String(secret).trim().replace(/^whsec_/, ''), 'base64');
    if (key.length === 0) return new Error('misconfigured: PREREG_SIGNING_SECRET is not whsec_<base64>');
    var id = 'msg_' + crypto.randomBytes(16).toString('hex');
    var ts = String(Math.floor(Date.now() / 1000));
    var sig = crypto.createHmac('sha256', key).update(id + '.' + ts + '.' + body).digest('base64');
    return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': 'v1,' + sig };
  }

  function timeoutMs(v) {
    var n = parseInt(v, 10);
    if (!isFinite(n) || n <= 0) return DEFAULT_TIMEOUT_MS;
    return Math.min(n, MAX_TIMEOUT_MS);
  }

  function maskEmail(email) {
    if (typeof email !== 'string' || email === '') return '-';
    var e = email.trim().toLowerCase();
    var at = e.lastIndexOf('@');
    if (at <= 0) return '***';
    return e.charAt(0) + '***' + e.slice(at);
  }

  // clip makes s safe for one log line of at most max characters: control characters
  // become "?" (no forged lines), and a longer text ends in "..." (never half a
  // surrogate pair).
  function clip(s, max) {
    var t = String(s).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
    if (t.length <= max) return t;
    var end = max - 3;
    var c = t.charCodeAt(end - 1);
    if (c >= 0xd800 && c <= 0xdbff) end--;
    return t.slice(0, end) + '...';
  }

  function describe(err) {
    return clip((err && err.message) || err, 120);
  }

  function lower(v) {
    return typeof v === 'string' ? v.trim().toLowerCase() : '';
  }

  function isString(v) {
    return typeof v === 'string';
  }
}
