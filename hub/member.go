package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubedevaiops/kubedevaiops/hub/fleetapi"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// memberOptions are the settings of one hub member (flags or config file).
type memberOptions struct {
	ID, DataDir                     string
	RaftAddr, RaftAdvertise         string
	GRPCAddr, GRPCAdvertise         string
	Join                            string
	Bootstrap, Dev, FastRaft        bool
	TLSCert, TLSKey, CACert, CAKey  string
	SnapshotThreshold, TrailingLogs uint64
	DeadMemberTimeout, HoldTimeout  time.Duration
	SnapshotInterval                time.Duration
	LogLevel                        string
}

func (o *memberOptions) grpcAdvertise() string {
	if o.GRPCAdvertise != "" {
		return o.GRPCAdvertise
	}
	return o.GRPCAddr
}

func (o *memberOptions) validate() error {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"--id", o.ID}, {"--data-dir", o.DataDir}, {"--raft-addr", o.RaftAddr}, {"--grpc-addr", o.GRPCAddr},
		{"--tls-cert", o.TLSCert}, {"--tls-key", o.TLSKey}, {"--ca-cert", o.CACert},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (or use --dev for a throw-away single member)", strings.Join(missing, ", "))
	}
	if errs := validation.IsDNS1123Subdomain(o.ID); len(errs) > 0 {
		return fmt.Errorf("--id %q: %s (member ids are DNS-1123 names, e.g. hub-1)", o.ID, strings.Join(errs, "; "))
	}
	if o.Bootstrap && o.Join != "" {
		return errors.New("--bootstrap and --join exclude each other: bootstrap forms a new hub, join enters an existing one")
	}
	return nil
}

// runMember runs one hub member until ctx ends.
func runMember(ctx context.Context, opts memberOptions, out io.Writer) error {
	if opts.Dev {
		dir, err := prepareDev(&opts, out)
		if err != nil {
			return fmt.Errorf("--dev: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	if err := opts.validate(); err != nil {
		return err
	}
	log, err := newLogger(opts.LogLevel)
	if err != nil {
		return err
	}
	log = log.With("member", opts.ID)

	memberCert, caPool, err := loadMemberTLS(opts)
	if err != nil {
		return err
	}
	serverTLS, clientTLS := raftnode.MemberTLS(memberCert, caPool)

	fsm := store.New(store.Options{Logger: log})
	node, err := raftnode.New(raftnode.Config{
		ID: opts.ID, DataDir: opts.DataDir,
		RaftBind: opts.RaftAddr, RaftAdvertise: opts.RaftAdvertise,
		ServerTLS: serverTLS, ClientTLS: clientTLS,
		FSM: fsm, Codec: store.Codec{},
		Bootstrap:         opts.Bootstrap,
		Members:           fleetapi.MemberAddresses(fsm),
		Logger:            log,
		RaftLog:           os.Stderr,
		RaftLogLevel:      opts.LogLevel,
		HoldTimeout:       opts.HoldTimeout,
		SnapshotThreshold: opts.SnapshotThreshold,
		SnapshotInterval:  opts.SnapshotInterval,
		TrailingLogs:      opts.TrailingLogs,
		DeadMemberTimeout: opts.DeadMemberTimeout,
		Fast:              opts.FastRaft,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := node.Shutdown(); err != nil {
			log.Warn("raft shutdown", "err", err)
		}
	}()
	api := fleetapi.New(fleetapi.Config{Node: node, Store: fsm, Logger: log, GRPCAddr: opts.grpcAdvertise()})
	node.RunWhileLeader("member-registry", api.KeepMemberRecords)

	// One gRPC endpoint serves admins, members and (later) spokes; client certificates are
	// verified against the hub CA when given, and each service checks the identity it needs.
	grpcTLS := serverTLS.Clone()
	grpcTLS.ClientAuth = tls.VerifyClientCertIfGiven
	grpcTLS.VerifyPeerCertificate = nil
	grpcTLS.NextProtos = []string{"h2"}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(grpcTLS)), grpc.MaxRecvMsgSize(8<<20))
	node.RegisterMemberServer(srv)
	fleetv1.RegisterFleetServer(srv, api)
	lis, err := net.Listen("tcp", opts.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen on --grpc-addr %s: %w", opts.GRPCAddr, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	defer srv.Stop()
	log.Info("hub member serving", "grpc_addr", lis.Addr().String(), "raft_addr", node.RaftAddr(), "version", version, "commit", commit)

	if opts.Join != "" {
		if err := joinHub(ctx, opts, memberCert, caPool, node.RaftAddr(), log); err != nil {
			return err
		}
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			srv.Stop()
		}
		return nil
	case err := <-serveErr:
		return fmt.Errorf("gRPC server: %w", err)
	}
}

// loadMemberTLS loads the member's certificate and the hub CA, and checks that the certificate
// speaks for the member id it is started with.
func loadMemberTLS(opts memberOptions) (tls.Certificate, *x509.CertPool, error) {
	pair, err := tls.LoadX509KeyPair(opts.TLSCert, opts.TLSKey)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("member certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	id, err := pki.IdentityOf(leaf)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("--tls-cert: %w", err)
	}
	if id.Kind != pki.KindMember || id.Name != opts.ID {
		return tls.Certificate{}, nil, fmt.Errorf("--tls-cert speaks for %s, not for hub member %q (--id)", id, opts.ID)
	}
	caPEM, err := os.ReadFile(opts.CACert)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("hub CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return tls.Certificate{}, nil, fmt.Errorf("hub CA: no certificate in %s", opts.CACert)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("--tls-cert is not issued by --ca-cert: %w", err)
	}
	return pair, pool, nil
}

// joinHub asks an existing member to add this one, retrying while the hub elects a leader.
func joinHub(ctx context.Context, opts memberOptions, cert tls.Certificate, ca *x509.CertPool, raftAddr string, log *slog.Logger) error {
	creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: ca})
	conn, err := grpc.NewClient(opts.Join, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("--join %s: %w", opts.Join, err)
	}
	defer conn.Close()
	client := fleetv1.NewFleetClient(conn)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		_, err := client.JoinMember(ctx, &fleetv1.JoinMemberRequest{Id: opts.ID, RaftAddress: raftAddr, GrpcAddress: opts.grpcAdvertise()})
		if err == nil {
			log.Info("joined the hub", "via", opts.Join)
			return nil
		}
		log.Warn("join failed; retrying", "via", opts.Join, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("join the hub via %s: %w", opts.Join, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
