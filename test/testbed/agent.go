package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
)

var agentBinary = &projectBinary{name: "kubedevaiops-agent", pkg: "./spoke"}

// AgentBinary builds kubedevaiops-agent from this checkout once per test process.
func AgentBinary() (string, error) { return agentBinary.build() }

// AgentOptions say how an agent process runs against a test cluster.
type AgentOptions struct {
	// ClusterName is the name it registers as; default the test cluster's name.
	ClusterName string
	// Hub lists the member addresses it registers with.
	Hub []string
	// Token and CAHash are the bootstrap token and the hub CA pin; a restart needs neither.
	Token, CAHash string
	// Args are further flags.
	Args []string
}

// Agent is a kubedevaiops-agent OS process outside the cluster, reaching it through the
// cluster's admin kubeconfig, as the agent inside a cluster reaches its apiserver.
type Agent struct {
	Cluster *Cluster
	Opts    AgentOptions
	dir     string
	mu      sync.Mutex
	proc    *process
	starts  int
}

// CAHash is the pin of this hub's CA, as kubectl aiops token create prints it.
func (h *Hub) CAHash() string { return fleetauth.CAHash(h.CA.Cert) }

// GRPCAddrs are the members' gRPC addresses.
func (h *Hub) GRPCAddrs() []string {
	out := make([]string, len(h.Members))
	for i, m := range h.Members {
		out[i] = m.GRPCAddr
	}
	return out
}

// StartAgent starts an agent for cluster c and stops it in t.Cleanup.
func StartAgent(t testing.TB, c *Cluster, opts AgentOptions) *Agent {
	t.Helper()
	a, err := NewAgent(c, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	return a
}

// NewAgent prepares an agent in dir without starting it.
func NewAgent(c *Cluster, dir string, opts AgentOptions) (*Agent, error) {
	if opts.ClusterName == "" {
		opts.ClusterName = c.Name
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Agent{Cluster: c, Opts: opts, dir: dir}, nil
}

// Start (re)starts the agent process.
func (a *Agent) Start() error {
	bin, err := AgentBinary()
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc != nil && a.proc.exitedErr() == nil {
		return fmt.Errorf("agent of %s is already running", a.Opts.ClusterName)
	}
	args := []string{"--cluster-name=" + a.Opts.ClusterName, "--kubeconfig=" + a.Cluster.Kubeconfig, "--log-level=debug"}
	if len(a.Opts.Hub) > 0 {
		args = append(args, "--hub="+strings.Join(a.Opts.Hub, ","))
	}
	if a.Opts.Token != "" {
		args = append(args, "--bootstrap-token="+a.Opts.Token)
	}
	if a.Opts.CAHash != "" {
		args = append(args, "--hub-ca-hash="+a.Opts.CAHash)
	}
	args = append(args, a.Opts.Args...)
	a.starts++
	p, err := startProcess(fmt.Sprintf("agent-%s-%d", a.Opts.ClusterName, a.starts), bin, args, a.dir, nil)
	if err != nil {
		return err
	}
	a.proc = p
	return nil
}

// Stop ends the agent gracefully (SIGTERM).
func (a *Agent) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc != nil {
		a.proc.stop(10 * time.Second)
	}
}

// Running reports whether the agent process is alive.
func (a *Agent) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.proc != nil && a.proc.exitedErr() == nil
}

// Exited waits up to timeout for the agent to exit and returns its exit error (nil while it runs).
func (a *Agent) Exited(ctx context.Context) error {
	a.mu.Lock()
	p := a.proc
	a.mu.Unlock()
	select {
	case <-p.exited:
		return p.waitErr
	case <-ctx.Done():
		return nil
	}
}

// LogPath is the current run's log file.
func (a *Agent) LogPath() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc == nil {
		return filepath.Join(a.dir, "agent.log")
	}
	return a.proc.logPath
}

// Log returns the last lines of the current run's log.
func (a *Agent) Log(lines int) string { return tail(a.LogPath(), lines) }
