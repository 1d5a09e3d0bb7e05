// Package actions carries the Auth0 scripts that call prereg's login hook, so
// the prereg binary can print them for pasting into the Auth0 dashboard or
// install them through the Management API without a copy of the repository.
package actions

import _ "embed"

// PostLogin is the source of the post-login Action (actions/post-login.js):
// a CommonJS module exporting onExecutePostLogin for Auth0's Node 22 runtime.
// Paste it as the code of a "Login / Post Login" Action and set its secrets.
//
//go:embed post-login.js
var PostLogin string

// Rule is the source of the legacy Rule (actions/rule.js): a single function
// expression, function preregRule(user, context, callback), for tenants that
// still run Rules. Rules reached end of life in Auth0's public cloud on
// 18 November 2026; PostLogin is the supported path.
//
//go:embed rule.js
var Rule string
