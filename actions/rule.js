function preregRule(user, context, callback) {
  /*
   * prereg as a legacy Auth0 Rule: the same behaviour as actions/post-login.js, for tenants
   * that still run Rules. Rules were never offered to tenants created from 16 October 2023
   * and reached end of life in Auth0's public cloud on 18 November 2026: the post-login
   * Action is the supported path.
   *
   * Settings (Rules > Settings, read through the global `configuration`):
   *   PREREG_URL              required, base URL of the service (trailing slash ignored).
   *   PREREG_SECRET           required, a hook secret, sent as "Authorization: Bearer ...".
   *   PREREG_TIMEOUT_MS       optional, default 3000 (1 to 15000): wait for the whole answer.
   *   PREREG_ON_ERROR         optional, "allow" (default) or "deny": when the service cannot
   *                           answer. "allow" re-issues roles recorded in app_metadata, if any.
   *   PREREG_ON_UNVERIFIED    optional, "deny" (default) or "allow": roles wait for this
   *                           address but the email is not verified.
   *   PREREG_CLAIM_NAMESPACE  optional, default "https://prereg/": claim "<namespace>roles".
   *   PREREG_SIGNING_SECRET   optional, "whsec_<base64>": sign requests the Standard Webhooks way.
   *
   * It records user.app_metadata.prereg = {roles (tenant-wide), grants: [{registration_id,
   * organization_id, roles}], updated_at} through auth0.users.updateAppMetadata, only when it
   * changed. Written for the older Node versions Rules ran on: no syntax newer than Node 12,
   * no global fetch, URL or Buffer assumed; Node's http/https and crypto modules only.
   * Every run writes exactly one console.log line (no secret, email masked).
   */
  var crypto = require('crypto');
  var Buf = require('buffer').Buffer;
  var cfg = (typeof configuration === 'object' && configuration) || {};

  var DEFAULT_TIMEOUT_MS = 3000;
  var MAX_TIMEOUT_MS = 15000;
  var MAX_ANSWER_BYTES = 1 << 20;
  var OUTCOMES = ['granted', 'already_granted', 'email_unverified', 'no_match'];
  var MSG_VERIFY = 'Please verify your email address (look for the verification email in your inbox), then sign in again.';
  var MSG_ERROR = 'We could not complete your sign-in right now. Please try again in a few minutes.';

  var ns = typeof cfg.PREREG_CLAIM_NAMESPACE === 'string' && cfg.PREREG_CLAIM_NAMESPACE.trim() !== ''
    ? cfg.PREREG_CLAIM_NAMESPACE.trim()
    : 'https://prereg/';
  var onError = lower(cfg.PREREG_ON_ERROR) === 'deny' ? 'deny' : 'allow';
  var onUnverified = lower(cfg.PREREG_ON_UNVERIFIED) === 'allow' ? 'allow' : 'deny';
  var orgID = (context && context.organization && context.organization.id) || '';
  var who = 'user=' + (user.user_id || '-') + ' email=' + maskEmail(user.email) + ' org=' + (orgID || '-');

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
      if (cached) {
        setClaim(cached);
        console.log('prereg: refresh ' + who + ' roles=' + cached.length + ' (from app_metadata)');
      } else {
        console.log('prereg: refresh ' + who + ' no recorded grants');
      }
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
    if (answer.outcome === 'granted' || answer.outcome === 'already_granted') {
      setClaim(answer.roles);
      var line = 'prereg: ' + answer.outcome + ' ' + who + ' roles=' + answer.roles.length + ' grants=' + answer.grants.length;
      var md = newMetadata(user.app_metadata, answer.grants);
      if (!md) {
        console.log(line + ' app_metadata=unchanged');
        return finish();
      }
      user.app_metadata = user.app_metadata || {};
      user.app_metadata.prereg = md;
      var p;
      try {
        p = auth0.users.updateAppMetadata(user.user_id, user.app_metadata);
      } catch (e) {
        p = Promise.reject(e);
      }
      // The claim comes from the answer, so a failed write only means the next login
      // (already_granted) writes it again: let this one through.
      Promise.resolve(p).then(function () {
        console.log(line + ' app_metadata=written');
        finish();
      }, function (e) {
        console.log(line + ' app_metadata=failed (' + describe(e) + ')');
        finish();
      });
      return;
    }
    if (answer.outcome === 'email_unverified') {
      if (onUnverified === 'allow') {
        console.log('prereg: email_unverified ' + who + ' allowed without roles (PREREG_ON_UNVERIFIED=allow)');
        return finish();
      }
      console.log('prereg: email_unverified ' + who + ' denied');
      return finish(new UnauthorizedError(MSG_VERIFY));
    }
    console.log('prereg: no_match ' + who);
    finish();
  }

  function failed(detail) {
    try {
      if (onError === 'deny') {
        console.log('prereg: error ' + detail + ' -> denied (PREREG_ON_ERROR=deny)');
        return finish(new UnauthorizedError(MSG_ERROR));
      }
      var cached = rolesFromMetadata(user.app_metadata, orgID);
      if (cached) setClaim(cached);
      console.log('prereg: error ' + detail + ' -> allowed' +
        (cached ? ' with ' + cached.length + ' roles from app_metadata' : '') + ' (PREREG_ON_ERROR=allow)');
    } catch (e) {
      // Nothing sensible is left to do; still answer Auth0 exactly once.
    }
    finish();
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
    if (typeof user.email === 'string' && user.email !== '') login.email = user.email;
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

  // newMetadata returns the app_metadata.prereg to write, or null when it is unchanged.
  function newMetadata(appMetadata, grants) {
    var prev = appMetadata && appMetadata.prereg;
    var tenantRoles = [];
    grants.forEach(function (g) {
      if (g.organization_id !== '') return;
      g.roles.forEach(function (r) { if (tenantRoles.indexOf(r) < 0) tenantRoles.push(r); });
    });
    if (prev && JSON.stringify(prev.grants) === JSON.stringify(grants) &&
      JSON.stringify(prev.roles) === JSON.stringify(tenantRoles)) return null;
    return { roles: tenantRoles, grants: grants, updated_at: new Date().toISOString() };
  }

  // rolesFromMetadata recomputes tenant-wide plus orgID roles from the recorded grants.
  function rolesFromMetadata(appMetadata, org) {
    var md = appMetadata && appMetadata.prereg;
    if (!md || !Array.isArray(md.grants)) return null;
    var roles = [];
    md.grants.forEach(function (g) {
      if (!g || !Array.isArray(g.roles)) return;
      var o = isString(g.organization_id) ? g.organization_id : '';
      if (o !== '' && o !== org) return;
      g.roles.forEach(function (r) { if (isString(r) && roles.indexOf(r) < 0) roles.push(r); });
    });
    return roles;
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

  function describe(err) {
    return String((err && err.message) || err).slice(0, 200);
  }

  function lower(v) {
    return typeof v === 'string' ? v.trim().toLowerCase() : '';
  }

  function isString(v) {
    return typeof v === 'string';
  }
}
