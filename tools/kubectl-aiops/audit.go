package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubedevaiops/kubedevaiops/api/audit"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// newAuditCommand is "kubectl aiops audit": reading and verifying the hash-chained audit log.
func newAuditCommand(conn *connection, output *string) *cobra.Command {
	audit := &cobra.Command{Use: "audit", Short: "Read and verify the hub's hash-chained audit log"}

	var from uint64
	var limit int32
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit records in order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.ListAudit(ctx, &fleetv1.ListAuditRequest{FromIndex: from, PageSize: limit})
				if err != nil {
					return err
				}
				return printResult(cmd.OutOrStdout(), *output, out, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "INDEX\tTIME\tACTOR\tACTION\tSUBJECT\tCLUSTER\tHASH")
					for _, r := range out.GetRecords() {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.GetIndex(), r.GetTime().AsTime().Format(time.RFC3339),
							r.GetActor(), r.GetAction(), r.GetSubject(), r.GetCluster(), hex.EncodeToString(r.GetHash())[:12])
					}
				})
			})
		},
	}
	list.Flags().Uint64Var(&from, "from", 1, "first record index")
	list.Flags().Int32Var(&limit, "limit", 100, "most records to show")

	var head string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Fetch the whole audit chain and check it: an edited, removed or reordered record fails",
		Long: `verify fetches every audit record and checks each record's hash against its content and its
link to the record before it. With --head HASH (a head hash you kept from an earlier run), it also
detects records removed from the end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				records, err := fetchAudit(ctx, c)
				if err != nil {
					return err
				}
				res, err := verifyChain(records, head)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), res)
				return nil
			})
		},
	}
	verify.Flags().StringVar(&head, "head", "", "expected hash (hex) of a record kept from an earlier verify; its absence fails")
	audit.AddCommand(list, verify)
	return audit
}

// fetchAudit pages through the whole audit log.
func fetchAudit(ctx context.Context, c fleetv1.FleetClient) ([]*fleetv1.AuditRecord, error) {
	var all []*fleetv1.AuditRecord
	token := ""
	for {
		out, err := c.ListAudit(ctx, &fleetv1.ListAuditRequest{PageToken: token, PageSize: 1000})
		if err != nil {
			return nil, err
		}
		all = append(all, out.GetRecords()...)
		if token = out.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

var errAuditBroken = errors.New("audit chain broken")

// verifyChain checks the fetched records with the chain rule of api/audit, independently of the
// hub's own verdict. head, when given, is a hash that must appear in the chain (it catches
// records removed from the end, which leave a shorter chain that still verifies).
func verifyChain(records []*fleetv1.AuditRecord, head string) (string, error) {
	chain := make([]*audit.Record, len(records))
	for i, p := range records {
		chain[i] = &audit.Record{
			Sequence: p.GetIndex(), Time: p.GetTime().AsTime(), Actor: p.GetActor(), Action: p.GetAction(),
			Target: p.GetSubject(), Cluster: p.GetCluster(), TraceID: p.GetTraceId(), Details: p.GetEntryJson(),
			PrevHash: p.GetPrevHash(), Hash: p.GetHash(),
		}
	}
	if len(chain) > 0 && chain[0].Sequence != 1 {
		return "", fmt.Errorf("%w: the log starts at record %d, records before it are missing", errAuditBroken, chain[0].Sequence)
	}
	if i, err := audit.Verify(chain); err != nil {
		return "", fmt.Errorf("%w at record %d: %v", errAuditBroken, chain[i].Sequence, err)
	}
	if head != "" {
		found := false
		for _, r := range chain {
			found = found || hex.EncodeToString(r.Hash) == head
		}
		if !found {
			return "", fmt.Errorf("%w: no record has the expected head hash %s: records were removed from the end", errAuditBroken, head)
		}
	}
	if len(chain) == 0 {
		return "audit log is empty", nil
	}
	last := chain[len(chain)-1]
	return fmt.Sprintf("audit chain intact: %d records, head %d hash %s", len(chain), last.Sequence, hex.EncodeToString(last.Hash)), nil
}
