package fleet

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// kubectlAiops runs the CLI against member i of h and returns its combined output.
func kubectlAiops(t *testing.T, h *testbed.Hub, i int, args ...string) string {
	t.Helper()
	bin, err := testbed.CLIBinary()
	require.NoError(t, err)
	conn, err := h.CLIConnection(i)
	require.NoError(t, err)
	out, err := exec.Command(bin, append([]string{"--config", conn}, args...)...).CombinedOutput()
	require.NoError(t, err, "kubectl aiops %s: %s", strings.Join(args, " "), out)
	return string(out)
}

// The operator's view of the fleet through kubectl aiops: tokens, clusters, sets and
// placements, as tables, yaml and json.
func testCLI(t *testing.T, hub *testbed.Hub, clusters []*testbed.Cluster) {
	out := kubectlAiops(t, hub, 2, "token", "create", "--ttl", "10m", "--usage-limit", "3", "--cluster-set", "prod", "--label", "tier=web")
	assert.Contains(t, out, "token:")
	assert.Contains(t, out, "hub CA hash: "+hub.CAHash(), "the CA pin a spoke needs")
	assert.Contains(t, out, "kubedevaiops-agent --cluster-name NAME")
	secret := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "token:", 2)[1], "\n", 2)[0])
	id := strings.SplitN(secret, ".", 2)[0]

	out = kubectlAiops(t, hub, 1, "token", "list")
	assert.Contains(t, out, id)
	assert.Contains(t, out, "0/3")
	assert.NotContains(t, out, secret, "the secret is never listed")
	out = kubectlAiops(t, hub, 1, "token", "revoke", id)
	assert.Contains(t, out, "revoked")
	assert.NotContains(t, kubectlAiops(t, hub, 1, "token", "list"), id, "revoked tokens are inactive")
	assert.Contains(t, kubectlAiops(t, hub, 1, "token", "list", "--all"), id)

	out = kubectlAiops(t, hub, 0, "clusters", "list")
	for _, c := range clusters {
		assert.Contains(t, out, c.Name)
	}
	assert.Contains(t, out, "AVAILABLE")
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(kubectlAiops(t, hub, 0, "clusters", "list", "-o", "json")), &list))
	assert.Equal(t, "List", list.Kind)
	assert.Len(t, list.Items, len(clusters))
	require.NoError(t, yaml.Unmarshal([]byte(kubectlAiops(t, hub, 0, "clusters", "list", "--set", "prod", "-o", "yaml")), &list))
	assert.Len(t, list.Items, 2, "the prod set has two clusters")

	out = kubectlAiops(t, hub, 0, "clusters", "label", clusters[0].Name, "team=payments", "tier=gold")
	assert.Contains(t, out, "labeled")
	var mc struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Kind string `json:"kind"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(kubectlAiops(t, hub, 0, "clusters", "get", clusters[0].Name)), &mc))
	assert.Equal(t, "ManagedCluster", mc.Kind)
	assert.Equal(t, "payments", mc.Metadata.Labels["team"])
	kubectlAiops(t, hub, 0, "clusters", "label", clusters[0].Name, "tier-")
	mc.Metadata.Labels = nil // Unmarshal merges into a map it is given
	require.NoError(t, json.Unmarshal([]byte(kubectlAiops(t, hub, 0, "clusters", "get", clusters[0].Name, "-o", "json")), &mc))
	assert.NotContains(t, mc.Metadata.Labels, "tier")

	out = kubectlAiops(t, hub, 0, "clusters", "inventory", clusters[0].Name, "--kind", "Deployment")
	assert.Contains(t, out, "Deployment")
	assert.Contains(t, out, "web")

	out = kubectlAiops(t, hub, 0, "sets", "list")
	assert.Contains(t, out, "prod")
	assert.Contains(t, out, clusters[1].Name)

	dir := t.TempDir()
	manifest := filepath.Join(dir, "p.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte(`apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: everyone
  namespace: default
spec: {}
`), 0o600))
	assert.Contains(t, kubectlAiops(t, hub, 0, "placements", "apply", "-f", manifest), "applied")
	eventuallyCLI(t, hub, []string{"placements", "decisions", "everyone"}, clusters[0].Name, clusters[1].Name, clusters[2].Name)
	out = kubectlAiops(t, hub, 0, "placements", "list")
	assert.Contains(t, out, "everyone")
	assert.Contains(t, out, "AllDecisionsScheduled")
	assert.Contains(t, kubectlAiops(t, hub, 0, "placements", "delete", "everyone"), "deleted")
}

func eventuallyCLI(t *testing.T, hub *testbed.Hub, args []string, want ...string) {
	t.Helper()
	eventually(t, 30*time.Second, "kubectl aiops "+strings.Join(args, " "), func() error {
		out := kubectlAiops(t, hub, 0, args...)
		for _, w := range want {
			if !strings.Contains(out, w) {
				return &missing{w, out}
			}
		}
		return nil
	})
}

type missing struct{ want, out string }

func (m *missing) Error() string { return "no " + m.want + " in:\n" + m.out }
