package main

import (
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
	"github.com/prereg/prereg/internal/prereg"
)

// checkCmd works on the file only: the check needs the bytes of the file,
// which the admin API does not hand out (backup checks its copy the same way).
func checkCmd(e *env) *cobra.Command {
	var (
		db     string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run bbolt's consistency check on a store file",
		Example: `  prereg check --db prereg.db
  prereg check --db prereg.db --json`,
		Args: noArgs,
	}
	cmd.Flags().StringVar(&db, "db", "prereg.db", "store file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"file\": …, \"problems\": […]}")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		errs, err := checkFile(db)
		if err != nil {
			return err
		}
		problems := make([]string, len(errs))
		for i, e2 := range errs {
			problems[i] = e2.Error()
		}
		if asJSON {
			if err := printJSON(e.stdout, map[string]any{"file": db, "problems": problems}); err != nil {
				return err
			}
		} else {
			for _, p := range problems {
				fmt.Fprintln(e.stdout, "problem:", p)
			}
		}
		if len(errs) > 0 {
			return prereg.Errorf(prereg.Invalid, "%s: %d problem(s) found", db, len(errs))
		}
		if !asJSON {
			fmt.Fprintf(e.stdout, "%s: OK\n", db)
		}
		return nil
	}
	return cmd
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
		Short: "Write a consistent copy of the store (through the service, or from the file)",
		Example: `  prereg backup prereg-2026-12-02.db --db prereg.db
  prereg backup /backups/prereg.db --force --server https://prereg.example.com`,
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
		errs, err := checkFile(tmp.Name())
		if err != nil {
			return fmt.Errorf("the backup does not open: %w", err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("the backup fails its consistency check: %v", errs[0])
		}
		if err := place(tmp.Name(), out, force); err != nil {
			return err
		}
		fi, err := os.Stat(out)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "backup written to %s (%s, checked)\n", out, bytesize.Human(fi.Size()))
		return nil
	}
	return cmd
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

// restoreCmd works on the file only: it replaces the store, which no
// running service may hold.
func restoreCmd(e *env) *cobra.Command {
	var (
		db    string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "restore IN --db PATH",
		Short: "Restore a backup into a store file (offline: refuses a store in use)",
		Example: `  prereg restore prereg-2026-12-02.db --db prereg.db
  prereg restore prereg-2026-12-02.db --db prereg.db --force`,
		Args: exactArgs("backup file"),
	}
	cmd.Flags().StringVar(&db, "db", "", "store file to restore into (required)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing store file")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if db == "" {
			return usageError(cmd, "--db is required: the store file to restore into")
		}
		errs, err := checkFile(args[0])
		if err != nil {
			return fmt.Errorf("the backup %s does not open: %w", args[0], err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("the backup %s fails its consistency check: %v", args[0], errs[0])
		}
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
		if err := copyFile(args[0], db); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "restored %s into %s\n", args[0], db)
		return nil
	}
	return cmd
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
