package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: mgmt
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: admin
  user: {token: abc}
contexts:
- name: mgmt
  context: {cluster: mgmt, user: admin}
current-context: mgmt
`

func TestCAPIFlagsAreChecked(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "mgmt.kubeconfig")
	require.NoError(t, os.WriteFile(good, []byte(testKubeconfig), 0o600))
	garbage := filepath.Join(dir, "garbage")
	require.NoError(t, os.WriteFile(garbage, []byte("{not: [yaml"), 0o600))
	noContext := filepath.Join(dir, "empty.kubeconfig")
	require.NoError(t, os.WriteFile(noContext, []byte("apiVersion: v1\nkind: Config\n"), 0o600))

	cases := []struct {
		name string
		opts capiOptions
		want string
	}{
		{"off", capiOptions{}, ""},
		{"valid", capiOptions{Kubeconfig: good, AgentImage: "img:v1", HubEndpoints: []string{"hub-1:7401"}}, ""},
		{"missing file", capiOptions{Kubeconfig: filepath.Join(dir, "nope"), AgentImage: "img:v1"}, "no such file"},
		{"not a kubeconfig", capiOptions{Kubeconfig: garbage, AgentImage: "img:v1"}, "not a readable kubeconfig"},
		{"no context", capiOptions{Kubeconfig: noContext, AgentImage: "img:v1"}, "names no cluster and user"},
		{"no image", capiOptions{Kubeconfig: good}, "--agent-image"},
		{"endpoint without port", capiOptions{Kubeconfig: good, AgentImage: "img:v1", HubEndpoints: []string{"hub-1"}}, "--capi-hub-endpoints"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := c.opts.validate()
			if c.want != "" {
				require.ErrorContains(t, err, c.want)
				return
			}
			require.NoError(t, err)
			if c.opts.Kubeconfig == "" {
				require.Nil(t, cfg, "the importer is off")
			} else {
				require.Equal(t, "https://127.0.0.1:6443", cfg.Host)
			}
		})
	}
}

func TestAgentImageDefaultsToTheHubVersion(t *testing.T) {
	f := newRootCommand().Flags().Lookup("agent-image")
	require.NotNil(t, f)
	require.Equal(t, "ghcr.io/kubedevaiops/kubedevaiops-agent:"+version, f.DefValue)
}
