package hub

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// `kubedevaiops-hub --dev` is a complete single-member hub: the connection file it prints works
// for the CLI, and on SIGTERM it stops cleanly and removes its temp dir.
func TestDevHubServesTheCLIAndCleansUp(t *testing.T) {
	hubBin, err := testbed.HubBinary()
	require.NoError(t, err)
	cliBin, err := testbed.CLIBinary()
	require.NoError(t, err)
	ports, err := testbed.FreePorts(2)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hub := exec.CommandContext(ctx, hubBin, "--dev", "--id=dev", "--log-level=warn",
		"--raft-addr=127.0.0.1:"+ports[0], "--grpc-addr=127.0.0.1:"+ports[1])
	stdout, err := hub.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, hub.Start())
	t.Cleanup(func() { _ = hub.Process.Kill(); _ = hub.Wait() })

	var config, dir string
	sc := bufio.NewScanner(stdout)
	for config == "" && sc.Scan() {
		line := sc.Text()
		if m := regexp.MustCompile(`data and certificates in (\S+)`).FindStringSubmatch(line); m != nil {
			dir = m[1]
		}
		if _, after, ok := strings.Cut(line, "export KUBEDEVAIOPS_CONFIG="); ok {
			config = after
		}
	}
	require.NotEmpty(t, config, "the dev hub prints its connection file")
	require.DirExists(t, dir)

	var out []byte
	require.Eventually(t, func() bool {
		cmd := exec.Command(cliBin, "hub", "members")
		cmd.Env = append(os.Environ(), "KUBEDEVAIOPS_CONFIG="+config)
		out, err = cmd.CombinedOutput()
		return err == nil && strings.Contains(string(out), "dev")
	}, 30*time.Second, 100*time.Millisecond, "the CLI reaches the dev hub: %s", out)

	require.NoError(t, hub.Process.Signal(syscall.SIGTERM))
	require.NoError(t, hub.Wait(), "the dev hub exits cleanly on SIGTERM")
	require.NoDirExists(t, dir, "the dev hub removes its temp dir")
}
