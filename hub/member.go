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
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubedevaiops/kubedevaiops/hub/fleetapi"
	"github.com/kubedevaiops/kubedevaiops/hub/incident"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/placementctl"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/registration"
	"github.com/kubedevaiops/kubedevaiops/hub/secrets"
	"github.com/kubedevaiops/kubedevaiops/hub/spokeapi"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
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
	// PprofAddr serves runtime profiles for performance work; empty disables it.
	PprofAddr string
	// ClusterCertTTL is the lifetime of cluster certificates; ClusterLease the cluster lease.
	ClusterCertTTL, ClusterLease time.Duration
	// MetricsAddr serves Prometheus metrics; empty disables it.
	MetricsAddr string
	// CAPI configures the Cluster API importer.
	CAPI capiOptions
	// Directives says where the directive-signing key lives; DirectiveTTL how long a directive
	// is valid; DryRunActions makes every directive a dry-run, fleet-wide.
	Directives directiveOptions
	// Vault is where the AI provider keys and the directive-signing key live; off when its
	// address is empty.
	Vault         secrets.Config
	DirectiveTTL  time.Duration
	VerifyTimeout time.Duration
	DryRunActions bool
	// AI configures the engines and providers.
	AI aiOptions
	// OTLP is where traces are exported.
	OTLP otlpOptions
	// Jules configures the Google Jules provider (onboarding); on when Vault is, which holds its key.
	Jules julesOptions
}

// otlpOptions configure the OTLP trace export.
type otlpOptions struct {
	Endpoint, Protocol, CAFile string
	Insecure                   bool
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
	// Zero means the default (the flags always set one; a config file or a caller may not).
	if o.ClusterLease != 0 && (o.ClusterLease < time.Second || o.ClusterLease%time.Second != 0) {
		return fmt.Errorf("--cluster-lease-duration %s: give whole seconds, at least 1s (OCM leases are in seconds)", o.ClusterLease)
	}
	if o.ClusterCertTTL != 0 && o.ClusterCertTTL < 10*time.Second {
		return fmt.Errorf("--cluster-cert-ttl %s: at least 10s, so a spoke can renew before expiry", o.ClusterCertTTL)
	}
	if o.Bootstrap && o.Join != "" {
		return errors.New("--bootstrap and --join exclude each other: bootstrap forms a new hub, join enters an existing one")
	}
	return nil
}

// runMember runs one hub member until ctx ends.
func runMember(ctx context.Context, opts memberOptions, out io.Writer) error {
	// A member's heap is mostly long-lived: the replicated state and the streams' buffers. Go's
	// default lets the heap double before collecting; half that keeps a large fleet's memory a
	// fifth lower for a little more GC work. GOGC in the environment still decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(memberGCPercent)
	}
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
	capiMgmt, err := opts.CAPI.validate()
	if err != nil {
		return err
	}
	log, err := newLogger(opts.LogLevel)
	if err != nil {
		return err
	}
	log = log.With("member", opts.ID)
	if opts.PprofAddr != "" {
		stopPprof, err := servePprof(opts.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

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
	var clusterCA *pki.CA
	if opts.CAKey != "" {
		if clusterCA, err = pki.LoadCA(opts.CACert, opts.CAKey); err != nil {
			return err
		}
	} else {
		log.Warn("no --ca-key: this member cannot sign cluster certificates; registrations it receives that need one fail")
	}
	registrar := registration.New(registration.Config{
		Node: node, Store: fsm, CA: clusterCA, CertTTL: opts.ClusterCertTTL, LeaseDuration: opts.ClusterLease, Logger: log,
	})
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tel, err := telemetry.Setup(ctx, telemetry.Config{MemberID: opts.ID, ServiceVersion: version, Endpoint: opts.OTLP.Endpoint,
		Protocol: telemetry.Protocol(opts.OTLP.Protocol), Insecure: opts.OTLP.Insecure, CAFile: opts.OTLP.CAFile, Logger: log})
	if err != nil {
		return fmt.Errorf("trace export: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()
	var vault *secrets.Vault
	if opts.Vault.Address != "" {
		if vault, err = secrets.New(opts.Vault, log); err != nil {
			return err
		}
		defer vault.Close()
	}
	signer, err := newSigner(ctx, opts.Directives, vault, node, fsm, log)
	if err != nil {
		return err
	}
	engines, err := newEngines(opts.AI, vault, metrics, tel.TracerProvider(), log)
	if err != nil {
		return err
	}
	incidentCfg := incident.Config{Node: node, Store: fsm, Logger: log, Tracer: tel.TracerProvider(), Engines: engines, DirectiveTTL: opts.DirectiveTTL, VerifyTimeout: opts.VerifyTimeout, DryRun: opts.DryRunActions}
	spokeCfg := spokeapi.Config{Node: node, Store: fsm, Registrar: registrar, Logger: log, Metrics: metrics, Spans: tel}
	if signer != nil {
		incidentCfg.Signer, spokeCfg.Keys = signer, signer
	}
	incidents := incident.New(incidentCfg)
	spokeCfg.Incidents = incidents
	spokes := spokeapi.New(spokeCfg)
	incidents.SetStreams(spokes)
	if opts.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(opts.MetricsAddr, metrics, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	var julesLoops *julesLoops
	apiCfg := fleetapi.Config{Node: node, Store: fsm, Logger: log, GRPCAddr: opts.grpcAdvertise(), Registrar: registrar, Inventory: spokes,
		Plans: incidents, Traces: tel.Store(), Engines: engines, ExternalAIForbidden: incidents.ExternalAIForbidden}
	if vault != nil {
		if julesLoops, err = newJulesLoops(opts.Jules, vault, node, fsm, incidents, tel.TracerProvider(), log); err != nil {
			return err
		}
		apiCfg.Jules = julesLoops.tracker
	} else {
		log.Info("jules is off: its API key lives in Vault (--vault-addr)")
	}
	api := fleetapi.New(apiCfg)
	node.RunWhileLeader("member-registry", api.KeepMemberRecords)
	node.RunWhileLeader("cluster-health", spokes.Health)
	node.RunWhileLeader("registration-gc", registrar.CollectGarbage)
	node.RunWhileLeader("placement", placementctl.New(node, fsm, log).Run)
	node.RunWhileLeader("incidents", incidents.Run)
	if julesLoops != nil {
		julesLoops.run(node)
	}
	capiImporter, err := newCAPIImporter(opts.CAPI, capiMgmt, opts.CACert, node, fsm, registrar, log)
	if err != nil {
		return err
	}
	if capiImporter != nil {
		node.RunWhileLeader("capi-import", capiImporter.Run)
	}
	spokesDone := make(chan struct{})
	go func() { spokes.Run(ctx); close(spokesDone) }()
	defer func() { <-spokesDone }()
	deliveryDone := make(chan struct{})
	go func() { incidents.RunDelivery(ctx); close(deliveryDone) }()
	defer func() { <-deliveryDone }()

	// One gRPC endpoint serves admins, members, registering spokes (no client certificate yet)
	// and connected spokes; client certificates are verified against the hub CA when given,
	// and each service checks the identity it needs.
	grpcTLS := serverTLS.Clone()
	grpcTLS.ClientAuth = tls.VerifyClientCertIfGiven
	grpcTLS.VerifyPeerCertificate = nil
	grpcTLS.NextProtos = []string{"h2"}
	// Thousands of spokes each hold a connection: no read buffer (the TLS connection buffers
	// a whole record already, so the frame reader's small reads cost no system call), a small
	// write buffer released while a connection is idle, keep a member's memory per spoke low.
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(grpcTLS)), grpc.MaxRecvMsgSize(8<<20),
		grpc.ReadBufferSize(0), grpc.WriteBufferSize(8<<10), grpc.SharedWriteBuffer(true),
		grpc.ChainUnaryInterceptor(recoverUnary(log)), grpc.ChainStreamInterceptor(recoverStream(log)), spokeapi.ServerOption())
	node.RegisterMemberServer(srv)
	fleetv1.RegisterFleetServer(srv, api)
	fleetv1.RegisterRegistrationServer(srv, registration.NewService(registrar))
	fleetv1.RegisterSpokeServer(srv, spokes)
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
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("--tls-cert is not issued by --ca-cert: %w", err)
	}
	// Send the CA along: a registering spoke has only the CA's pinned hash to check it with.
	if root := chains[0][len(chains[0])-1]; len(pair.Certificate) == 1 && !root.Equal(leaf) {
		pair.Certificate = append(pair.Certificate, root.Raw)
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

// memberGCPercent is the GC target of a member unless GOGC is set.
const memberGCPercent = 50

// recoverUnary and recoverStream turn a panic in a call into an Internal error for that call,
// logged with its stack, instead of taking the member and every stream it serves down with it.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic serving a call; this is a bug", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Errorf(codes.Internal, "internal error serving %s", info.FullMethod)
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic serving a stream; this is a bug", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Errorf(codes.Internal, "internal error serving %s", info.FullMethod)
			}
		}()
		return handler(srv, ss)
	}
}

// serveMetrics serves the member's Prometheus metrics on their own listener, apart from the
// authenticated gRPC endpoint.
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	log.Info("metrics serving", "metrics_addr", lis.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// servePprof serves the pprof handlers on their own mux and listener, so profiling never shares
// the member's authenticated gRPC endpoint; bind it to loopback.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	log.Info("pprof serving", "pprof_addr", lis.Addr().String())
	return func() { _ = srv.Close() }, nil
}
