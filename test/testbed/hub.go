package testbed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// HubOptions shape a test hub.
type HubOptions struct {
	// Members is the number of members to start; default 3.
	Members int
	// Args are extra flags for every member, e.g. "--snapshot-threshold=64".
	Args []string
	// Partitionable puts a FaultProxy in front of every member's Raft transport, so that
	// Isolate can cut a member off. Member i then binds Raft on 127.0.0.(10+i).
	Partitionable bool
	// Metrics serves each member's Prometheus metrics on a port of its own (MetricsAddr).
	Metrics bool
	// Pprof serves each member's Go profiles on a port of its own (PprofAddr).
	Pprof bool
	// ProductionRaft keeps Raft's production timers instead of the short test timers, for
	// load that would otherwise starve heartbeats into elections on a small machine.
	ProductionRaft bool
}

// Hub is a running multi-process hub: each member is a kubedevaiops-hub OS process with its own
// data dir on disk, member certificate and loopback ports.
type Hub struct {
	Dir     string
	CA      *pki.CA
	Members []*HubMember

	binary        string
	args          []string
	partitionable bool
	metrics       bool
	pprof         bool
	fastRaft      bool
	admin         tls.Certificate
	mu            sync.Mutex
	conns         map[string]*grpc.ClientConn
	extra         []*grpc.ClientConn // ClientAs connections
}

// HubMember is one member process.
type HubMember struct {
	ID, DataDir, RaftAddr, GRPCAddr string
	// RaftBind is where the member's Raft listens; RaftAddr (what peers dial) is its proxy's
	// address on a partitionable hub, else the same.
	RaftBind string
	// MetricsAddr serves the member's /metrics when the hub was started with Metrics, PprofAddr
	// its /debug/pprof/ with Pprof.
	MetricsAddr, PprofAddr string
	proxy                  *FaultProxy
	certPath, keyPath      string
	join                   string
	proc                   *process
	dir                    string
}

// projectBinary is one of the project's own commands, built from this checkout once per test
// process into bin/test/<test package>/ (git-ignored; go's build cache makes rebuilds cheap, and
// one directory per test package keeps packages that run in parallel from writing one file).
type projectBinary struct {
	name, pkg string
	once      sync.Once
	path      string
	err       error
}

func (b *projectBinary) build() (string, error) {
	b.once.Do(func() {
		root, err := repoRoot()
		if err != nil {
			b.err = err
			return
		}
		wd, err := os.Getwd()
		if err != nil {
			b.err = err
			return
		}
		rel, err := filepath.Rel(root, wd)
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(root, "bin", "test", strings.ReplaceAll(rel, string(filepath.Separator), "-"), b.name)
		cmd := exec.Command("go", "build", "-o", b.path, b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", b.name, err, out)
		}
	})
	return b.path, b.err
}

var (
	hubBinary = &projectBinary{name: "kubedevaiops-hub", pkg: "./hub"}
	cliBinary = &projectBinary{name: "kubectl-aiops", pkg: "./tools/kubectl-aiops"}
)

// HubBinary builds kubedevaiops-hub from this checkout once per test process.
func HubBinary() (string, error) { return hubBinary.build() }

// CLIBinary builds kubectl-aiops from this checkout once per test process.
func CLIBinary() (string, error) { return cliBinary.build() }

// StartHub starts a hub whose first member bootstraps and the others join it, and stops every
// member in t.Cleanup.
func StartHub(t testing.TB, opts HubOptions) *Hub {
	t.Helper()
	if opts.Members <= 0 {
		opts.Members = 3
	}
	bin, err := HubBinary()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA("testbed-hub-ca", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h := &Hub{Dir: t.TempDir(), CA: ca, binary: bin, args: opts.Args, partitionable: opts.Partitionable, metrics: opts.Metrics, pprof: opts.Pprof, fastRaft: !opts.ProductionRaft, conns: map[string]*grpc.ClientConn{}}
	t.Cleanup(h.Stop)
	admin, err := ca.IssueAdmin("testbed-admin", []string{"admin"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if h.admin, err = admin.TLSCertificate(); err != nil {
		t.Fatal(err)
	}
	if err := admin.WriteFiles(h.path("admin.crt"), h.path("admin.key")); err != nil {
		t.Fatal(err)
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := (pki.Issued{CertPEM: ca.CertPEM, KeyPEM: caKey}).WriteFiles(h.path("ca.crt"), h.path("ca.key")); err != nil {
		t.Fatal(err)
	}
	for i := range opts.Members {
		if _, err := h.AddMember(); err != nil {
			t.Fatalf("start hub member %d: %v", i, err)
		}
	}
	return h
}

func (h *Hub) path(name string) string { return filepath.Join(h.Dir, name) }

// AddMember starts one more member: the first bootstraps the hub, later ones join the first live
// member. It returns once the member serves and, for a joiner, is in the membership.
func (h *Hub) AddMember() (*HubMember, error) {
	i := len(h.Members)
	id := fmt.Sprintf("m%d", i)
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	m := &HubMember{
		ID: id, dir: h.path(id), DataDir: filepath.Join(h.path(id), "data"),
		RaftAddr: "127.0.0.1:" + strconv.Itoa(ports[0]), GRPCAddr: "127.0.0.1:" + strconv.Itoa(ports[1]),
	}
	m.RaftBind = m.RaftAddr
	for _, a := range []struct {
		on   bool
		addr *string
	}{{h.metrics, &m.MetricsAddr}, {h.pprof, &m.PprofAddr}} {
		if !a.on {
			continue
		}
		p, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		*a.addr = "127.0.0.1:" + strconv.Itoa(p[0])
	}
	if h.partitionable {
		ip := memberIP(i)
		l, err := net.Listen("tcp", ip.String()+":0")
		if err != nil {
			return nil, fmt.Errorf("reserve a port on %s: %w", ip, err)
		}
		m.RaftBind = l.Addr().String()
		_ = l.Close()
		if m.proxy, err = NewFaultProxy("127.0.0.1:0", m.RaftBind); err != nil {
			return nil, err
		}
		m.RaftAddr = m.proxy.Addr()
	}
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return nil, err
	}
	issued, err := h.CA.IssueMember(id, []string{"127.0.0.1", memberIP(i).String(), "localhost"}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	m.certPath, m.keyPath = filepath.Join(m.dir, "member.crt"), filepath.Join(m.dir, "member.key")
	if err := issued.WriteFiles(m.certPath, m.keyPath); err != nil {
		return nil, err
	}
	for _, other := range h.Members {
		if other.Running() {
			m.join = other.GRPCAddr
			break
		}
	}
	if i > 0 && m.join == "" {
		return nil, errors.New("no running member to join")
	}
	h.Members = append(h.Members, m)
	if err := h.Start(i); err != nil {
		return nil, err
	}
	if m.join != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := h.awaitMember(ctx, i); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Start (re)starts member i on its data dir; a restarted member keeps its id and addresses.
func (h *Hub) Start(i int) error {
	m := h.Members[i]
	args := []string{
		"--id=" + m.ID, "--data-dir=" + m.DataDir,
		"--raft-addr=" + m.RaftBind, "--raft-advertise=" + m.RaftAddr, "--grpc-addr=" + m.GRPCAddr,
		"--tls-cert=" + m.certPath, "--tls-key=" + m.keyPath,
		"--ca-cert=" + h.path("ca.crt"), "--ca-key=" + h.path("ca.key"),
		"--log-level=info",
	}
	if h.fastRaft {
		args = append(args, "--fast-raft")
	}
	if m.join == "" {
		args = append(args, "--bootstrap")
	} else {
		args = append(args, "--join="+m.join)
	}
	if m.MetricsAddr != "" {
		args = append(args, "--metrics-addr="+m.MetricsAddr)
	}
	if m.PprofAddr != "" {
		args = append(args, "--pprof-addr="+m.PprofAddr)
	}
	args = append(args, h.args...)
	p, err := startProcess("hub-"+m.ID, h.binary, args, m.dir, nil)
	if err != nil {
		return err
	}
	m.proc = p
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := h.Client(i)
	return p.await(ctx, "serving the Fleet API", func(ctx context.Context) error {
		_, err := client.ListMembers(ctx, &fleetv1.ListMembersRequest{})
		return err
	})
}

// awaitMember waits until member i appears in the membership as seen by itself.
func (h *Hub) awaitMember(ctx context.Context, i int) error {
	m := h.Members[i]
	return m.proc.await(ctx, "in the hub's membership", func(ctx context.Context) error {
		out, err := h.Client(i).ListMembers(ctx, &fleetv1.ListMembersRequest{})
		if err != nil {
			return err
		}
		for _, mm := range out.GetMembers() {
			if mm.GetId() == m.ID {
				return nil
			}
		}
		return fmt.Errorf("%s not among %d members", m.ID, len(out.GetMembers()))
	})
}

// CLIConnection writes a kubectl-aiops connection file for member i with the admin's
// certificate and returns its path.
func (h *Hub) CLIConnection(i int) (string, error) {
	path := h.path(fmt.Sprintf("admin-%s.yaml", h.Members[i].ID))
	content := fmt.Sprintf("hub: %s\ncert: %s\nkey: %s\nca: %s\n", h.Members[i].GRPCAddr, h.path("admin.crt"), h.path("admin.key"), h.path("ca.crt"))
	return path, os.WriteFile(path, []byte(content), 0o600)
}

// PID is the member process's id, 0 when it never started.
func (m *HubMember) PID() int {
	if m.proc == nil {
		return 0
	}
	return m.proc.cmd.Process.Pid
}

// Running reports whether the member's process is alive.
func (m *HubMember) Running() bool { return m.proc != nil && m.proc.exitedErr() == nil }

// LogPath is the member's log file.
func (m *HubMember) LogPath() string { return filepath.Join(m.dir, "hub-"+m.ID+".log") }

// Kill ends member i with SIGKILL: no shutdown, whatever was in memory is lost.
func (h *Hub) Kill(i int) {
	m := h.Members[i]
	if m.proc == nil {
		return
	}
	_ = syscall.Kill(-m.proc.cmd.Process.Pid, syscall.SIGKILL)
	<-m.proc.exited
}

// StopMember ends member i gracefully.
func (h *Hub) StopMember(i int) {
	if m := h.Members[i]; m.proc != nil {
		m.proc.stop(10 * time.Second)
	}
}

// memberIP is the loopback address member i binds Raft on in a partitionable hub.
func memberIP(i int) net.IP { return net.IPv4(127, 0, 0, byte(10+i)) }

// Isolate cuts member i's Raft traffic both ways: nobody reaches it, and it reaches nobody.
// Clients still reach its API, as clients inside its partition would.
func (h *Hub) Isolate(i int) {
	ip := memberIP(i)
	for j, m := range h.Members {
		if j == i {
			m.proxy.Block(func(net.IP) bool { return true })
		} else {
			m.proxy.Block(func(src net.IP) bool { return src.Equal(ip) })
		}
	}
}

// Heal restores every member's Raft traffic.
func (h *Hub) Heal() {
	for _, m := range h.Members {
		m.proxy.Block(nil)
	}
}

// Stop ends every member and closes the clients.
func (h *Hub) Stop() {
	for i := range h.Members {
		h.StopMember(i)
		if p := h.Members[i].proxy; p != nil {
			p.Close()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for addr, c := range h.conns {
		_ = c.Close()
		delete(h.conns, addr)
	}
	for _, c := range h.extra {
		_ = c.Close()
	}
	h.extra = nil
}

// Client is an admin Fleet client connected to member i.
func (h *Hub) Client(i int) fleetv1.FleetClient {
	addr := h.Members[i].GRPCAddr
	h.mu.Lock()
	defer h.mu.Unlock()
	conn, ok := h.conns[addr]
	if !ok {
		creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{h.admin}, RootCAs: h.CA.Pool()})
		var err error
		conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			panic(fmt.Sprintf("grpc.NewClient(%s): %v", addr, err)) // only fails on a malformed target
		}
		h.conns[addr] = conn
	}
	return fleetv1.NewFleetClient(conn)
}

// Leader returns the index of the member that leads, as the running members agree on it.
func (h *Hub) Leader(ctx context.Context) (int, error) {
	var last error
	for {
		for i, m := range h.Members {
			if !m.Running() {
				continue
			}
			out, err := h.Client(i).ListMembers(ctx, &fleetv1.ListMembersRequest{})
			if err != nil {
				last = err
				continue
			}
			for _, mm := range out.GetMembers() {
				if mm.GetLeader() {
					for j, cand := range h.Members {
						if cand.ID == mm.GetId() && cand.Running() {
							return j, nil
						}
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("no leader among the running members: %v", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ClientAs is a Fleet client of member i for another admin identity, with roles, issued by the
// hub CA (e.g. a second approver for the four-eyes rule).
func (h *Hub) ClientAs(i int, name string, roles ...string) (fleetv1.FleetClient, error) {
	issued, err := h.CA.IssueAdmin(name, roles, time.Hour)
	if err != nil {
		return nil, err
	}
	cert, err := issued.TLSCertificate()
	if err != nil {
		return nil, err
	}
	creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: h.CA.Pool()})
	conn, err := grpc.NewClient(h.Members[i].GRPCAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.extra = append(h.extra, conn)
	h.mu.Unlock()
	return fleetv1.NewFleetClient(conn), nil
}
