package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigFileFillsFlagsNotGivenOnTheCommandLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.yaml")
	require.NoError(t, os.WriteFile(path, []byte("data-dir: /var/lib/hub\njoin: 10.1.2.3:7401\nhold-timeout: 9s\nid: from-file\n"), 0o600))

	cmd := newRootCommand()
	require.NoError(t, cmd.Flags().Parse([]string{"--id=from-flag"}))
	require.NoError(t, applyConfigFile(cmd.Flags(), path))
	get := func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
	require.Equal(t, "/var/lib/hub", get("data-dir"))
	require.Equal(t, "10.1.2.3:7401", get("join"))
	require.Equal(t, "9s", get("hold-timeout"))
	require.Equal(t, "from-flag", get("id"), "the command line wins")
}

func TestConfigFileRefusesUnknownAndBadSettings(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"data-dir: /x\ndatadir: /y\n", "unknown settings datadir"},
		{"hold-timeout: soon\n", "hold-timeout"},
		{"config: other.yaml\n", "unknown settings config"},
		{"data-dir: [unclosed\n", "config file"},
	} {
		path := filepath.Join(dir, "hub.yaml")
		require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
		err := applyConfigFile(newRootCommand().Flags(), path)
		require.ErrorContains(t, err, tc.want, tc.content)
	}
}

func TestMemberOptionsNameWhatIsMissing(t *testing.T) {
	err := (&memberOptions{ID: "m1"}).validate()
	require.ErrorContains(t, err, "missing --data-dir")
	require.ErrorContains(t, err, "--tls-cert")
	opts := memberOptions{ID: "Bad_ID", DataDir: "d", RaftAddr: "a", GRPCAddr: "b", TLSCert: "c", TLSKey: "k", CACert: "ca"}
	require.ErrorContains(t, opts.validate(), `--id "Bad_ID"`)
	opts.ID, opts.Bootstrap, opts.Join = "m1", true, "x:1"
	require.ErrorContains(t, opts.validate(), "--bootstrap and --join exclude each other")
	opts.Join = ""
	opts.ClusterLease = 1500 * time.Millisecond
	require.ErrorContains(t, opts.validate(), "--cluster-lease-duration 1.5s: give whole seconds")
	opts.ClusterLease, opts.ClusterCertTTL = time.Second, 5*time.Second
	require.ErrorContains(t, opts.validate(), "--cluster-cert-ttl 5s: at least 10s")
}
