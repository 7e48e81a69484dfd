package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// kubectlAiops runs the CLI against member i of h and returns its combined output.
func kubectlAiops(t *testing.T, h *testbed.Hub, i int, args ...string) (string, error) {
	t.Helper()
	bin, err := testbed.CLIBinary()
	require.NoError(t, err)
	conn, err := h.CLIConnection(i)
	require.NoError(t, err)
	cmd := exec.Command(bin, append([]string{"--config", conn}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The operator's view: members, leave, audit verify, and a backup restored into a fresh hub.
func TestCLIMembershipAuditAndBackupRestore(t *testing.T) {
	h := testbed.StartHub(t, testbed.HubOptions{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	acked := map[string]string{}
	for k := range 20 {
		name := fmt.Sprintf("b-%02d", k)
		_, err := putPolicy(ctx, h.Client(k%3), name, fmt.Sprint(k))
		require.NoError(t, err)
		acked[name] = fmt.Sprint(k)
	}

	out, err := kubectlAiops(t, h, 1, "hub", "members")
	require.NoError(t, err, out)
	for _, m := range h.Members {
		require.Contains(t, out, m.ID)
		require.Contains(t, out, m.GRPCAddr, "every member's gRPC address is recorded")
	}
	require.Contains(t, out, "LEADER")
	out, err = kubectlAiops(t, h, 1, "hub", "members", "-o", "json")
	require.NoError(t, err, out)
	var listed struct {
		Members []struct {
			ID     string `json:"id"`
			Leader bool   `json:"leader"`
		} `json:"members"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &listed), out) // protojson spacing varies: parse, never grep
	leaders := 0
	for _, m := range listed.Members {
		if m.Leader {
			leaders++
		}
	}
	require.Equal(t, 1, leaders, "exactly one leader:\n%s", out)

	out, err = kubectlAiops(t, h, 0, "audit", "verify")
	require.NoError(t, err, out)
	require.Contains(t, out, "audit chain intact")

	// Remove member 2 through member 0; the rest keep serving.
	out, err = kubectlAiops(t, h, 0, "hub", "leave", h.Members[2].ID, "-o", "json")
	require.NoError(t, err, out)
	require.NoError(t, json.Unmarshal([]byte(out), &listed), out)
	require.Len(t, listed.Members, 2, "member %s left: %s", h.Members[2].ID, out)
	for _, m := range listed.Members {
		require.NotEqual(t, h.Members[2].ID, m.ID)
	}
	h.StopMember(2)
	_, err = putPolicy(ctx, h.Client(1), "after-leave", "1")
	require.NoError(t, err, "two members of a two-member configuration form a quorum")
	acked["after-leave"] = "1"

	// Back up, then restore into a fresh single-member hub.
	backup := filepath.Join(t.TempDir(), "hub.snap")
	out, err = kubectlAiops(t, h, 1, "hub", "snapshot", "save", backup)
	require.NoError(t, err, out)
	require.Contains(t, out, "saved snapshot")

	fresh := testbed.StartHub(t, testbed.HubOptions{Members: 1})
	out, err = kubectlAiops(t, fresh, 0, "hub", "snapshot", "restore", backup)
	require.NoError(t, err, out)
	require.Contains(t, out, "restored")
	requireAll(t, ctx, fresh, 0, acked)
	out, err = kubectlAiops(t, fresh, 0, "audit", "verify")
	require.NoError(t, err, out)
	require.Contains(t, out, "audit chain intact")

	// A file that is not a snapshot is refused and changes nothing.
	junk := filepath.Join(t.TempDir(), "junk.snap")
	require.NoError(t, exec.Command("sh", "-c", "head -c 4096 /dev/urandom > "+junk).Run())
	out, err = kubectlAiops(t, fresh, 0, "hub", "snapshot", "restore", junk)
	require.Error(t, err)
	require.Contains(t, out, "not a hub snapshot")
	requireAll(t, ctx, fresh, 0, acked)
}
