package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

func checkCmd(e *env) *cobra.Command {
	var db string
	cmd := &cobra.Command{Use: "check", Short: "Run bbolt's consistency check on a store file", Args: cobra.NoArgs}
	cmd.Flags().StringVar(&db, "db", "prereg.db", "store file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		errs, err := checkFile(db)
		if err != nil {
			return err
		}
		for _, e2 := range errs {
			fmt.Fprintln(e.stdout, "problem:", e2)
		}
		if len(errs) > 0 {
			return prereg.Errorf(prereg.Invalid, "%s: %d problem(s) found", db, len(errs))
		}
		fmt.Fprintf(e.stdout, "%s: OK\n", db)
		return nil
	}
	return cmd
}

// checkFile opens a store read-only and runs Tx.Check on it.
func checkFile(path string) ([]error, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, prereg.Errorf(prereg.NotFound, "no store at %s", path)
	}
	return boltstore.CheckFile(path)
}

func backupCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "backup OUT", Short: "Write a consistent copy of the store (through the service, or from the file)", Args: cobra.ExactArgs(1)}
	c := addConn(cmd, e)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		out := args[0]
		tmp, err := os.CreateTemp(filepath.Dir(out), ".prereg-backup-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if c.remote() {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.Request(cmd.Context(), "GET", "/v1/backup", nil, nil, "", tmp); err != nil {
				return err
			}
		} else {
			s, err := c.open(false)
			if err != nil {
				return err
			}
			_, err = s.Backup(cmd.Context(), tmp, nil)
			if err == nil {
				err = s.Audit(cmd.Context(), cliActor, prereg.AuditBackup, "", "", "backup written by the CLI")
			}
			s.Close()
			if err != nil {
				return err
			}
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
		if err := os.Rename(tmp.Name(), out); err != nil {
			return err
		}
		fi, _ := os.Stat(out)
		fmt.Fprintf(e.stdout, "backup written to %s (%d bytes, checked)\n", out, fi.Size())
		return nil
	}
	return cmd
}

func restoreCmd(e *env) *cobra.Command {
	var (
		db    string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "restore IN --db PATH",
		Short: "Restore a backup into a store file (offline: refuses a store in use)",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&db, "db", "", "store file to restore into (required)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing store file")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if db == "" {
			return prereg.Errorf(prereg.Invalid, "--db is required")
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
