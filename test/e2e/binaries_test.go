package e2e

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Each of the three binaries reports the commit it was linked with, the way `make build` links it.
func TestBinariesReportCommit(t *testing.T) {
	dir := t.TempDir()
	for _, b := range []struct{ name, pkg string }{
		{"kubedevaiops-hub", "../../hub"},
		{"kubedevaiops-agent", "../../spoke"},
		{"kubectl-aiops", "../../tools/kubectl-aiops"},
	} {
		t.Run(b.name, func(t *testing.T) {
			bin := filepath.Join(dir, b.name)
			out, err := exec.Command("go", "build", "-ldflags", "-X main.commit=0123456789ab -X main.version=v9.9.9",
				"-o", bin, b.pkg).CombinedOutput()
			require.NoError(t, err, "go build: %s", out)

			out, err = exec.Command(bin, "--version").CombinedOutput()
			require.NoError(t, err, "%s --version: %s", b.name, out)
			require.Equal(t, b.name+" version v9.9.9 (commit 0123456789ab)\n", string(out))

			out, err = exec.Command(bin, "--help").CombinedOutput()
			require.NoError(t, err)
			require.Contains(t, string(out), "Usage:")

			out, err = exec.Command(bin, "--no-such-flag").CombinedOutput()
			require.Error(t, err, "an unknown flag is refused")
			require.Contains(t, string(out), "unknown flag: --no-such-flag")
		})
	}
}
