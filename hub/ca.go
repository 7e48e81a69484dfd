package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubedevaiops/kubedevaiops/hub/pki"
)

// newCACommand is "kubedevaiops-hub ca": creating the hub CA and issuing member and admin
// certificates from it, for setting up a hub by hand.
func newCACommand() *cobra.Command {
	ca := &cobra.Command{Use: "ca", Short: "Create the hub CA and issue member and admin certificates"}
	var dir string
	ca.PersistentFlags().StringVar(&dir, "dir", ".", "directory holding ca.crt and ca.key")

	var ttl time.Duration
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new hub CA (ca.crt, ca.key) in --dir",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			authority, err := pki.NewCA("kubedevaiops-hub-ca", ttl)
			if err != nil {
				return err
			}
			key, err := authority.KeyPEM()
			if err != nil {
				return err
			}
			if err := (pki.Issued{CertPEM: authority.CertPEM, KeyPEM: key}).WriteFiles(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
			return nil
		},
	}
	initCmd.Flags().DurationVar(&ttl, "ttl", 10*365*24*time.Hour, "CA validity")

	var (
		hosts   string
		roles   string
		certTTL time.Duration
	)
	issue := func(kind string) *cobra.Command {
		c := &cobra.Command{
			Use:   "issue-" + kind + " NAME",
			Short: "Issue a " + kind + " certificate (NAME.crt, NAME.key in --dir)",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				authority, err := pki.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
				if err != nil {
					return err
				}
				var issued pki.Issued
				switch kind {
				case "member":
					if hosts == "" {
						return errors.New("issue-member: --hosts is required (the addresses other members and clients dial)")
					}
					issued, err = authority.IssueMember(args[0], strings.Split(hosts, ","), certTTL)
				default:
					issued, err = authority.IssueAdmin(args[0], strings.Split(roles, ","), certTTL)
				}
				if err != nil {
					return err
				}
				certPath, keyPath := filepath.Join(dir, args[0]+".crt"), filepath.Join(dir, args[0]+".key")
				if err := issued.WriteFiles(certPath, keyPath); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", certPath, keyPath)
				return nil
			},
		}
		c.Flags().DurationVar(&certTTL, "ttl", 365*24*time.Hour, "certificate validity")
		if kind == "member" {
			c.Flags().StringVar(&hosts, "hosts", "", "comma-separated DNS names and IPs of the member")
		} else {
			c.Flags().StringVar(&roles, "roles", "admin", "comma-separated roles of the admin")
		}
		return c
	}
	ca.AddCommand(initCmd, issue("member"), issue("admin"))
	return ca
}
