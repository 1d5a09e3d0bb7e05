package main

import (
	"context"
	"io"
	"runtime/debug"

	"github.com/prereg/prereg/internal/auth0sync"
	"github.com/prereg/prereg/internal/client"
	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/prereg"
)

// registrations are the CLI's calls on registrations.
type registrations interface {
	Put(ctx context.Context, in prereg.Input) (prereg.Registration, prereg.Change, error)
	List(ctx context.Context, f prereg.Filter) ([]prereg.Registration, string, error)
	Revoke(ctx context.Context, id string, force bool) (prereg.Registration, error)
	RetrySync(ctx context.Context, id string) error
	Erase(ctx context.Context, email string) (prereg.Erasure, error)
	Export(ctx context.Context, w io.Writer, f prereg.Filter) error
}

// reports are the CLI's read-only views of the store.
type reports interface {
	Stats(ctx context.Context, f prereg.StatsFilter) (prereg.Stats, error)
	AuditTrail(ctx context.Context, f prereg.AuditFilter) ([]prereg.AuditEntry, string, error)
}

// tokens are the CLI's calls on admin tokens.
type tokens interface {
	CreateToken(ctx context.Context, req prereg.TokenRequest) (prereg.Token, string, error)
	Tokens(ctx context.Context) ([]prereg.Token, error)
	RevokeToken(ctx context.Context, id string) error
}

// imports are the CLI's calls on CSV imports.
type imports interface {
	Import(ctx context.Context, r io.Reader, opts prereg.ImportOptions) (prereg.ImportReport, error)
	Imports(ctx context.Context, f prereg.ImportFilter) ([]prereg.ImportSummary, string, error)
	ImportReport(ctx context.Context, id string) (prereg.ImportReport, error)
}

// admin is everything a CLI command does, written once: the HTTP client
// does it through a running service (--server), local on the store file
// (--db).
type admin interface {
	registrations
	reports
	tokens
	imports
	Backup(ctx context.Context, w io.Writer) error
	Reconcile(ctx context.Context, dryRun bool) (prereg.ReconcileReport, error)
}

var (
	_ admin = (*client.Client)(nil)
	_ admin = (*local)(nil)
)

// local is admin on an open store, acting as the CLI ("cli" in the audit
// trail).
type local struct {
	s serviceStore
	// tmp is where the importer spills ("": the temporary directory).
	tmp string
	// e gives the environment: GOMEMLIMIT, the Auth0 credentials.
	e *env
}

func (l *local) Put(ctx context.Context, in prereg.Input) (prereg.Registration, prereg.Change, error) {
	return l.s.Put(ctx, in, "cli", cliActor)
}

func (l *local) List(ctx context.Context, f prereg.Filter) ([]prereg.Registration, string, error) {
	return l.s.List(ctx, f)
}

func (l *local) Revoke(ctx context.Context, id string, force bool) (prereg.Registration, error) {
	r, _, err := l.s.Revoke(ctx, id, force, cliActor)
	return r, err
}

func (l *local) RetrySync(ctx context.Context, id string) error {
	_, err := l.s.RetrySync(ctx, id, cliActor)
	return err
}

func (l *local) Erase(ctx context.Context, email string) (prereg.Erasure, error) {
	return l.s.Erase(ctx, email, "", cliActor)
}

// Export writes the registrations f selects in the import format, from one
// read transaction.
func (l *local) Export(ctx context.Context, w io.Writer, f prereg.Filter) error {
	enc := csvio.NewEncoder(w)
	if err := l.s.Each(ctx, f, enc.Write); err != nil {
		return err
	}
	return enc.Flush()
}

func (l *local) Stats(ctx context.Context, f prereg.StatsFilter) (prereg.Stats, error) {
	return l.s.Stats(ctx, f)
}

func (l *local) AuditTrail(ctx context.Context, f prereg.AuditFilter) ([]prereg.AuditEntry, string, error) {
	return l.s.AuditTrail(ctx, f)
}

func (l *local) CreateToken(ctx context.Context, req prereg.TokenRequest) (prereg.Token, string, error) {
	return l.s.CreateToken(ctx, req, cliActor)
}

func (l *local) Tokens(ctx context.Context) ([]prereg.Token, error) { return l.s.Tokens(ctx) }

func (l *local) RevokeToken(ctx context.Context, id string) error {
	_, err := l.s.RevokeToken(ctx, id, cliActor)
	return err
}

// Import runs the importer in this process, as the CLI.
func (l *local) Import(ctx context.Context, r io.Reader, opts prereg.ImportOptions) (prereg.ImportReport, error) {
	if l.e.getenv("GOMEMLIMIT") == "" {
		// A soft cap on the heap: the collector runs a little more often,
		// and a million-row import keeps a small resident set.
		debug.SetMemoryLimit(importMemoryLimit)
	}
	o := importer.Options{DryRun: opts.DryRun, Strict: opts.Strict, Principal: prereg.Principal{TokenID: cliActor}, TempDir: l.tmp}
	if p := opts.Progress; p != nil {
		o.Progress = func(_ int, n int64) { p(n) }
	}
	return importer.Run(ctx, l.s, r, o)
}

// Imports lists the imports the CLI may see (all of them).
func (l *local) Imports(ctx context.Context, f prereg.ImportFilter) ([]prereg.ImportSummary, string, error) {
	f.Viewer = prereg.Principal{TokenID: cliActor}
	return l.s.Imports(ctx, f)
}

func (l *local) ImportReport(ctx context.Context, id string) (prereg.ImportReport, error) {
	return l.s.Import(ctx, id)
}

// Backup copies the store (a bbolt file, or an etcd store's dump stream)
// and notes it in the audit trail (the service notes its own backups).
func (l *local) Backup(ctx context.Context, w io.Writer) error {
	if _, err := l.s.Backup(ctx, w, nil); err != nil {
		return err
	}
	return l.s.Audit(ctx, cliActor, prereg.AuditBackup, "", "", "backup written by the CLI")
}

// Reconcile uses the Auth0 credentials of this process's environment (the
// service uses its own); grants made here queue their Auth0 sync in the
// store, and the service works the queue when it next runs.
func (l *local) Reconcile(ctx context.Context, dryRun bool) (prereg.ReconcileReport, error) {
	users, err := auth0Env(l.e)
	if err != nil {
		return prereg.ReconcileReport{}, err
	}
	return auth0sync.Reconcile(ctx, l.s, users, dryRun)
}
