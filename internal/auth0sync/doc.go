// Package auth0sync writes prereg's grants into Auth0 through the Management
// API (go-auth0): role assignment, organization membership, a revoked
// grant's removal (its roles and its entry in app_metadata), the durable
// retry queue worker, the reconciliation of pending registrations with
// existing Auth0 users, and the installation of the post-login Action.
//
// Every error that leaves this package is a *prereg.Error: NotFound for
// Auth0's 404, RateLimited for 429 (RetryAt tells when Auth0 allows the
// next call), Unavailable for 5xx, timeouts and network errors, Forbidden
// for refused credentials or missing scopes, Conflict for 409 and Invalid
// for any other 4xx and for role names Auth0 does not know.
//
// # The Action's configuration digest
//
// InstallAction changes nothing when run again with the same inputs. Auth0
// never returns secret values, so to notice a changed value the Action's
// code ends with a comment line carrying an HMAC-SHA256 of the secret
// names and values, keyed with the machine-to-machine client secret: it
// changes when any value changes and, unlike a plain hash, cannot be used
// to guess short secret values (PREREG_ON_ERROR…) by anyone who may read
// the code. Rotating the client secret therefore causes one redundant
// update.
//
// # A revoked grant in app_metadata
//
// The Action answers refresh tokens from the user's app_metadata.prereg,
// so a revoke removes the grant there too. Auth0 offers no conditional
// update: a login that rewrites the property between the read and the
// write is overwritten, and the next login writes it again from the
// service's answer, which no longer holds the grant.
package auth0sync
