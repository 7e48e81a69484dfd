package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// newTokenCommand is "kubectl aiops token": bootstrap tokens that let clusters register.
func newTokenCommand(conn *connection, output *string) *cobra.Command {
	token := &cobra.Command{Use: "token", Aliases: []string{"tokens"}, Short: "Bootstrap tokens that let clusters register"}

	var (
		ttl        time.Duration
		limit      uint32
		set, desc  string
		autoAccept bool
		labels     []string
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a bootstrap token; prints its secret once, with the hub CA hash",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &fleetv1.CreateTokenRequest{Description: desc, Ttl: durationpb.New(ttl), UsageLimit: limit, ClusterSet: set,
				AutoAccept: autoAccept, ClusterLabels: map[string]string{}}
			for _, l := range labels {
				k, v, ok := strings.Cut(l, "=")
				if !ok {
					return fmt.Errorf("--label %q: write KEY=VALUE", l)
				}
				req.ClusterLabels[k] = v
			}
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.CreateToken(ctx, req)
				if err != nil {
					return err
				}
				pin, err := caHash(conn.CA)
				if err != nil {
					return err
				}
				if *output == "json" || *output == "yaml" {
					return writeJSONOrYAML(cmd.OutOrStdout(), *output, map[string]any{
						"token": out.GetSecret(), "id": out.GetToken().GetId(), "hubCAHash": pin, "hub": conn.Hub,
						"expires": out.GetToken().GetExpireTime().AsTime(),
					})
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "token:       %s\n", out.GetSecret())
				fmt.Fprintf(w, "hub CA hash: %s\n", pin)
				fmt.Fprintf(w, "expires:     %s\n", out.GetToken().GetExpireTime().AsTime().Format(time.RFC3339))
				fmt.Fprintf(w, "\nThe secret is shown only now. Register a cluster with:\n  kubedevaiops-agent --cluster-name NAME --hub %s --bootstrap-token %s --hub-ca-hash %s\n",
					conn.Hub, out.GetSecret(), pin)
				return nil
			})
		},
	}
	f := create.Flags()
	f.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token works")
	f.Uint32Var(&limit, "usage-limit", 0, "how many clusters it may register (0: no limit)")
	f.StringVar(&set, "cluster-set", "", "ManagedClusterSet the clusters join")
	f.BoolVar(&autoAccept, "auto-accept", false, "accept clusters registered with it without a human")
	f.StringSliceVar(&labels, "label", nil, "label KEY=VALUE put on the clusters (repeatable)")
	f.StringVar(&desc, "description", "", "what the token is for")

	var all bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List bootstrap tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				toks, err := allPages(func(tok string) ([]*fleetv1.BootstrapToken, string, error) {
					out, err := c.ListTokens(ctx, &fleetv1.ListTokensRequest{IncludeInactive: all, PageToken: tok})
					return out.GetTokens(), out.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				out := &fleetv1.ListTokensResponse{Tokens: toks}
				return printResult(cmd.OutOrStdout(), *output, out, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tUSES\tEXPIRES\tSET\tAUTO-ACCEPT\tREVOKED\tDESCRIPTION")
					for _, t := range out.GetTokens() {
						uses := fmt.Sprintf("%d", t.GetUsageCount())
						if t.GetUsageLimit() > 0 {
							uses += fmt.Sprintf("/%d", t.GetUsageLimit())
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%t\t%s\n", t.GetId(), uses, t.GetExpireTime().AsTime().Format(time.RFC3339),
							dash(t.GetClusterSet()), t.GetAutoAccept(), t.GetRevoked(), t.GetDescription())
					}
				})
			})
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include revoked, expired and used-up tokens")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a bootstrap token; clusters it registered keep their certificates",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				if _, err := c.RevokeToken(ctx, &fleetv1.RevokeTokenRequest{Id: args[0]}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "token/%s revoked\n", args[0])
				return nil
			})
		},
	}
	token.AddCommand(create, list, revoke)
	return token
}

// caHash is the pin of the hub CA in the connection's CA file.
func caHash(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("hub CA: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return "", fmt.Errorf("hub CA %s is not PEM", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("hub CA %s: %w", path, err)
	}
	return fleetauth.CAHash(cert), nil
}
