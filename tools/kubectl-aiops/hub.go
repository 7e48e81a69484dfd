package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// newHubCommand is "kubectl aiops hub": the hub's own membership and backups.
func newHubCommand(conn *connection, output *string) *cobra.Command {
	hub := &cobra.Command{Use: "hub", Short: "Hub membership and backup"}

	members := &cobra.Command{
		Use:   "members",
		Short: "List the hub's members and which one leads",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.ListMembers(ctx, &fleetv1.ListMembersRequest{})
				if err != nil {
					return err
				}
				return printMembers(cmd.OutOrStdout(), *output, out.GetMembers(), out)
			})
		},
	}

	var raftAddr, grpcAddr string
	join := &cobra.Command{
		Use:   "join ID",
		Short: "Add a member to the hub (start it first, without --bootstrap)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if raftAddr == "" {
				return errors.New("join: --raft-addr is required")
			}
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.JoinMember(ctx, &fleetv1.JoinMemberRequest{Id: args[0], RaftAddress: raftAddr, GrpcAddress: grpcAddr})
				if err != nil {
					return err
				}
				return printMembers(cmd.OutOrStdout(), *output, out.GetMembers(), out)
			})
		},
	}
	join.Flags().StringVar(&raftAddr, "raft-addr", "", "the new member's Raft address")
	join.Flags().StringVar(&grpcAddr, "grpc-addr", "", "the new member's gRPC address")

	leave := &cobra.Command{
		Use:   "leave ID",
		Short: "Remove a member from the hub",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.LeaveMember(ctx, &fleetv1.LeaveMemberRequest{Id: args[0]})
				if err != nil {
					return err
				}
				return printMembers(cmd.OutOrStdout(), *output, out.GetMembers(), out)
			})
		},
	}

	snapshot := &cobra.Command{Use: "snapshot", Short: "Save the hub's state to a file, or restore it into a fresh hub"}
	save := &cobra.Command{
		Use:   "save FILE",
		Short: "Save a consistent snapshot of the whole hub state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				return saveSnapshot(ctx, c, args[0], cmd.OutOrStdout())
			})
		},
	}
	restore := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the hub's whole state with a saved snapshot (for a fresh hub)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				return restoreSnapshot(ctx, c, args[0], cmd.OutOrStdout())
			})
		},
	}
	snapshot.AddCommand(save, restore)
	hub.AddCommand(members, join, leave, snapshot)
	return hub
}

func printMembers(w io.Writer, format string, members []*fleetv1.HubMember, msg proto.Message) error {
	return printResult(w, format, msg, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "ID\tRAFT ADDRESS\tGRPC ADDRESS\tVOTER\tLEADER")
		for _, m := range members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\n", m.GetId(), m.GetRaftAddress(), m.GetGrpcAddress(), m.GetVoter(), m.GetLeader())
		}
	})
}

// saveSnapshot streams the snapshot into FILE.tmp and renames it into place once complete, so a
// broken stream never leaves a truncated backup under the real name.
func saveSnapshot(ctx context.Context, c fleetv1.FleetClient, path string, w io.Writer) error {
	stream, err := c.SaveSnapshot(ctx, &fleetv1.SaveSnapshotRequest{})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	defer f.Close()
	var size int64
	var index uint64
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("snapshot stream: %w", err)
		}
		if chunk.GetIndex() != 0 {
			index = chunk.GetIndex()
		}
		n, err := f.Write(chunk.GetData())
		if err != nil {
			return err
		}
		size += int64(n)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	fmt.Fprintf(w, "saved snapshot at index %d (%d bytes) to %s\n", index, size, path)
	return nil
}

func restoreSnapshot(ctx context.Context, c fleetv1.FleetClient, path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	stream, err := c.RestoreSnapshot(ctx)
	if err != nil {
		return err
	}
	buf := make([]byte, 256*1024)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if err := stream.Send(&fleetv1.RestoreSnapshotRequest{Data: buf[:n]}); err != nil {
				return fmt.Errorf("snapshot upload: %w", err)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	out, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "restored %s; the hub is at index %d\n", path, out.GetIndex())
	return nil
}

// withFleet dials the hub and runs fn with a bounded context.
func withFleet(conn *connection, fn func(context.Context, fleetv1.FleetClient) error) error {
	cc, client, err := conn.dial()
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return fn(ctx, client)
}
