package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/bytesize"
	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/dumpio"
	"github.com/prereg/prereg/internal/prereg"
)

// checkCmd works on the file, not through the service: the check needs
// the bytes of the file, which the admin API does not hand out (backup
// checks its copy the same way). With --store etcd it runs the etcd
// store's own check: indexes agree with records, counters with counts.
func checkCmd(e *env) *cobra.Command {
	var (
		db     string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check a store: bbolt's consistency check of a file, or an etcd store's indexes and counters",
		Long: `Check a store: bbolt's consistency check of a --db file, or, with --store
etcd, that the etcd store's indexes agree with its records and its counters
with their counts.

Environment:
  PREREG_STORE, PREREG_ETCD_<FLAG>  --store and every --etcd-* flag
  PREREG_ETCD_PASSWORD_FILE         the etcd password, from a file`,
		Example: `  prereg check --db prereg.db
  prereg check --db prereg.db --json
  prereg check --store etcd --etcd-endpoints http://127.0.0.1:2379`,
		Args: noArgs,
	}
	cmd.Flags().StringVar(&db, "db", "prereg.db", "store file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"file\": …, \"problems\": […]}")
	sb := config.BindStore(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		st, err := sb.Resolve(pflagLookup{cmd.Flags()}, e.getenv)
		if err != nil {
			return err
		}
		name, errs, err := checkStore(cmd.Context(), db, st)
		if err != nil {
			return err
		}
		problems := make([]string, len(errs))
		for i, e2 := range errs {
			problems[i] = e2.Error()
		}
		if asJSON {
			if err := printJSON(e.stdout, map[string]any{"file": name, "problems": problems}); err != nil {
				return err
			}
		} else {
			for _, p := range problems {
				fmt.Fprintln(e.stdout, "problem:", p)
			}
		}
		if len(errs) > 0 {
			return prereg.Errorf(prereg.Invalid, "%s: %d problem(s) found", name, len(errs))
		}
		if !asJSON {
			fmt.Fprintf(e.stdout, "%s: OK\n", name)
		}
		return nil
	}
	return cmd
}

// checkStore checks the file db, or the etcd store st names.
func checkStore(ctx context.Context, db string, st config.Store) (name string, problems []error, err error) {
	if st.Kind != config.StoreEtcd {
		problems, err = checkFile(db)
		return db, problems, err
	}
	loc := location{kind: config.StoreEtcd, etcd: st.Etcd}
	s, err := loc.open(ctx, false, true)
	if err != nil {
		return loc.String(), nil, err
	}
	defer s.Close()
	return loc.String(), s.Check(), nil
}

// checkFile opens a store read-only and runs Tx.Check on it.
func checkFile(path string) ([]error, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, prereg.Errorf(prereg.NotFound, "no store at %s", path)
	} else if err != nil {
		return nil, prereg.Wrap(prereg.Invalid, err, "cannot open the store "+path+": "+osCause(err))
	}
	return boltstore.CheckFile(path)
}

func backupCmd(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "backup OUT",
		Short: "Write a consistent copy of the store (through the service, from the file, or from etcd)",
		Long: `Write a consistent copy of the store to OUT, checked before it is put in
place. Of a bbolt store (--db, or a service running on one) the backup is a
bbolt file; of an etcd store (--store etcd, or a service running on one) it
is a dump stream (text, one JSON object per line). prereg restore takes
either into either kind of store.

Environment:
` + connEnvHelp,
		Example: `  prereg backup prereg-2026-12-02.db --db prereg.db
  prereg backup /backups/prereg.db --force --server https://prereg.example.com
  prereg backup prereg-2026-12-02.dump --store etcd --etcd-endpoints https://etcd-0:2379`,
		Args: exactArgs("output file"),
	}
	c := addConn(cmd, e)
	cmd.Flags().BoolVar(&force, "force", false, "replace OUT if it exists")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		out := args[0]
		if _, err := os.Lstat(out); err == nil && !force {
			return prereg.Errorf(prereg.Conflict, "%s exists; pass --force to replace it", out)
		}
		tmp, err := os.CreateTemp(filepath.Dir(out), ".prereg-backup-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if err := c.with(func(a admin) error { return a.Backup(cmd.Context(), tmp) }); err != nil {
			return err
		}
		if err := tmp.Sync(); err != nil {
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		what, err := checkBackup(tmp.Name())
		if err != nil {
			return fmt.Errorf("the backup fails its check: %w", err)
		}
		if err := place(tmp.Name(), out, force); err != nil {
			return err
		}
		fi, err := os.Stat(out)
		if err != nil {
			return err
		}
		if what == "bbolt file" {
			what = "" // what backups always were
		} else {
			what = ", " + what
		}
		fmt.Fprintf(e.stdout, "backup written to %s (%s%s, checked)\n", out, bytesize.Human(fi.Size()), what)
		return nil
	}
	return cmd
}

// isDumpFile reports whether path holds a dump stream rather than a bbolt
// file.
func isDumpFile(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, prereg.Wrap(prereg.NotFound, err, "cannot open "+path+": "+osCause(err))
	}
	defer f.Close()
	first := make([]byte, 64)
	n, _ := io.ReadFull(f, first)
	return dumpio.Sniff(first[:n]), nil
}

// checkBackup checks a backup of either format whole: a bbolt file with
// bbolt's check, a dump stream by reading it to its end line. It says
// what it found: "bbolt file", "dump of 3 registration, …".
func checkBackup(path string) (string, error) {
	dump, err := isDumpFile(path)
	if err != nil {
		return "", err
	}
	if !dump {
		errs, err := checkFile(path)
		if err != nil {
			return "", err
		}
		if len(errs) > 0 {
			return "", errs[0]
		}
		return "bbolt file", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	counts := prereg.DumpCounts{}
	if err := streamSource(f)(func(it prereg.DumpItem) error { counts[it.Kind]++; return nil }); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return "dump of " + describeCounts(counts), nil
}

// place moves the finished file tmp to out; without force a file that
// appeared at out meanwhile is kept (a hard link never replaces).
func place(tmp, out string, force bool) error {
	if force {
		return os.Rename(tmp, out)
	}
	err := os.Link(tmp, out)
	if errors.Is(err, fs.ErrExist) {
		return prereg.Errorf(prereg.Conflict, "%s exists; pass --force to replace it", out)
	}
	return err
}

// restoreCmd works on the store, not through the service: it replaces
// the store, which no running service may hold.
func restoreCmd(e *env) *cobra.Command {
	var (
		db    string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "restore IN (--db PATH | --store etcd …)",
		Short: "Restore a backup (bbolt file or dump stream) into a store file or etcd (offline)",
		Long: `Restore a backup into a store file (--db) or, with --store etcd, into the
etcd cluster. IN may be a bbolt file (a backup of a bbolt store) or a dump
stream (a backup of an etcd store): either goes into either kind of store.
IN is checked whole before anything is replaced. A store that holds data is
replaced only with --force; stop every service using it first.

Environment:
  PREREG_STORE, PREREG_ETCD_<FLAG>  --store and every --etcd-* flag
  PREREG_ETCD_PASSWORD_FILE         the etcd password, from a file`,
		Example: `  prereg restore prereg-2026-12-02.db --db prereg.db
  prereg restore prereg-2026-12-02.db --db prereg.db --force
  prereg restore prereg-2026-12-02.dump --store etcd --etcd-endpoints https://etcd-0:2379 --force`,
		Args: exactArgs("backup file"),
	}
	cmd.Flags().StringVar(&db, "db", "", "store file to restore into (required without --store etcd)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing store file, or what the etcd prefix holds")
	sb := config.BindStore(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		st, err := sb.Resolve(pflagLookup{cmd.Flags()}, e.getenv)
		if err != nil {
			return err
		}
		switch {
		case st.Kind == config.StoreEtcd && db != "":
			return usageError(cmd, "--db is not used with --store etcd: the backup goes into the etcd cluster")
		case st.Kind != config.StoreEtcd && db == "":
			return usageError(cmd, "--db is required: the store file to restore into (or --store etcd)")
		}
		in := args[0]
		what, err := checkBackup(in)
		if err != nil {
			return fmt.Errorf("the backup %s fails its check: %w", in, err)
		}
		dump, err := isDumpFile(in)
		if err != nil {
			return err
		}
		to := location{kind: config.StoreBolt, path: db}
		if st.Kind == config.StoreEtcd {
			to = location{kind: config.StoreEtcd, etcd: st.Etcd}
			err = restoreInto(cmd.Context(), in, dump, to, force)
		} else {
			err = restoreFile(cmd.Context(), in, dump, db, force)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "restored %s (%s) into %s\n", in, what, to)
		return nil
	}
	return cmd
}

// restoreFile puts the backup in into the store file db: a bbolt backup
// is copied, a dump is loaded into a new file first; either way db is
// replaced in one rename.
func restoreFile(ctx context.Context, in string, dump bool, db string, force bool) error {
	if _, err := os.Stat(db); err == nil {
		if !force {
			return prereg.Errorf(prereg.Conflict, "%s exists; pass --force to replace it", db)
		}
		// Taking the lock proves no service holds the file.
		s, err := boltstore.Open(db, boltstore.Options{LockTimeout: time.Second, ReadOnly: true})
		if err != nil {
			return err
		}
		s.Close()
	}
	if !dump {
		return copyFile(in, db)
	}
	tmp, err := os.CreateTemp(filepath.Dir(db), ".prereg-restore-*")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := restoreInto(ctx, in, true, location{kind: config.StoreBolt, path: tmp.Name()}, false); err != nil {
		return err
	}
	if errs, err := checkFile(tmp.Name()); err != nil || len(errs) > 0 {
		return fmt.Errorf("the restored store fails its check: %v %v", err, errs)
	}
	return os.Rename(tmp.Name(), db)
}

// restoreInto loads the backup in (a dump stream, or a bbolt file read
// through a read-only store) into the store at to, which must be empty
// unless force, and compares the counts.
func restoreInto(ctx context.Context, in string, dump bool, to location, force bool) error {
	dst, err := to.open(ctx, true, false)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := emptyOrForced(ctx, dst, to.String(), force); err != nil {
		return err
	}
	var src source
	if dump {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		defer f.Close()
		src = streamSource(f)
	} else {
		s, err := location{kind: config.StoreBolt, path: in}.open(ctx, false, true)
		if err != nil {
			return err
		}
		defer s.Close()
		src = storeSource(ctx, s)
	}
	sent, err := transfer(ctx, src, dst, nil)
	if err != nil {
		return err
	}
	return sameCounts(ctx, dst, sent, to.String())
}

// copyFile copies through a temporary file and a rename, so db is never
// half-written.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".prereg-restore-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
