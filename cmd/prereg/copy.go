package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/config"
)

func copyCmd(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "copy SRC DST",
		Short: "Copy a whole store between bbolt files and etcd (bolt:PATH, etcd:URL[,URL…])",
		Long: `Copy a whole store: registrations, token hashes, the audit trail, import
reports, queued Auth0 sync jobs and generated secrets. SRC and DST are each
bolt:PATH or etcd:URL[,URL…] (etcd: alone takes --etcd-endpoints); the
--etcd-* flags apply to an etcd side. A path on the URLs (or etcd:/PREFIX/
alone) names that side's key prefix instead of --etcd-prefix, so a copy
may go between two prefixes of one cluster. A destination that holds anything is
refused unless --force, which clears it first. At the end the destination's
counts are compared with what was copied.

Stop the services writing to SRC first: what they write after the copy
began is not copied.

Environment:
  PREREG_ETCD_<FLAG>         every --etcd-* flag (PREREG_ETCD_PREFIX…)
  PREREG_ETCD_PASSWORD_FILE  the etcd password, from a file`,
		Example: `  prereg copy bolt:prereg.db etcd:https://etcd-0:2379,https://etcd-1:2379 --etcd-ca-file ca.pem
  prereg copy etcd:http://127.0.0.1:2379 bolt:prereg-copy.db
  prereg copy bolt:old.db etcd: --force   # endpoints from PREREG_ETCD_ENDPOINTS
  prereg copy etcd:/prereg/ etcd:/prereg-staging/ --etcd-endpoints https://etcd-0:2379`,
		Args: exactArgs("SRC", "DST"),
	}
	eb := config.BindEtcd(cmd.Flags())
	cmd.Flags().BoolVar(&force, "force", false, "clear a destination that is not empty first")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		st, err := eb.Resolve(pflagLookup{cmd.Flags()}, e.getenv)
		if err != nil {
			return err
		}
		from, err := parseLocation(args[0], st.Etcd)
		if err != nil {
			return usageError(cmd, "SRC: %v", err)
		}
		to, err := parseLocation(args[1], st.Etcd)
		if err != nil {
			return usageError(cmd, "DST: %v", err)
		}
		if from.String() == to.String() {
			return usageError(cmd, "SRC and DST are the same store")
		}
		src, err := from.open(ctx, false, true)
		if err != nil {
			return fmt.Errorf("SRC %s: %w", from, err)
		}
		defer src.Close()
		dst, err := to.open(ctx, true, false)
		if err != nil {
			return fmt.Errorf("DST %s: %w", to, err)
		}
		defer dst.Close()
		if err := emptyOrForced(ctx, dst, to.String(), force); err != nil {
			return err
		}
		want, err := src.DumpCounts(ctx)
		if err != nil {
			return err
		}
		sent, err := transfer(ctx, storeSource(ctx, src), dst, newCountBar(e, int64(total(want)), "copying"))
		if err != nil {
			return err
		}
		// The source's own counts, and what went over, must agree with the
		// destination: a store that dropped items fails here.
		if err := sameCounts(ctx, dst, sent, to.String()); err != nil {
			return err
		}
		if err := sameCounts(ctx, dst, want, to.String()); err != nil {
			return fmt.Errorf("%w (the source changed during the copy?)", err)
		}
		fmt.Fprintf(e.stdout, "copied %s from %s to %s\n", describeCounts(sent), from, to)
		return nil
	}
	return cmd
}
