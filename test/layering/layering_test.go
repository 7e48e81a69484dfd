package layering

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/kubedevaiops/kubedevaiops"

// under reports whether the import path pkg is the top-level directory dir of this module or
// inside it.
func under(pkg, dir string) bool {
	p := module + "/" + dir
	return pkg == p || strings.HasPrefix(pkg, p+"/")
}

// violations applies the rules to one package and its (non-test) imports.
func violations(pkg string, imports []string) []string {
	var out []string
	for _, imp := range imports {
		switch {
		case under(pkg, "spoke") && under(imp, "hub"):
			out = append(out, fmt.Sprintf("%s imports %s (spoke must not import hub)", pkg, imp))
		case under(pkg, "hub") && under(imp, "spoke"):
			out = append(out, fmt.Sprintf("%s imports %s (hub must not import spoke)", pkg, imp))
		case (under(pkg, "api") || under(pkg, "proto")) &&
			(under(imp, "hub") || under(imp, "spoke") || under(imp, "tools") || under(imp, "test")):
			out = append(out, fmt.Sprintf("%s imports %s (contracts import no product or test code)", pkg, imp))
		case (under(pkg, "hub") || under(pkg, "spoke")) && (under(imp, "test") || under(imp, "tools")):
			out = append(out, fmt.Sprintf("%s imports %s (product code imports no test or tool code)", pkg, imp))
		}
	}
	return out
}

func TestRulesCatchEachKindOfViolation(t *testing.T) {
	cases := []struct {
		pkg, imp string
		bad      bool
	}{
		{"spoke/stream", "hub/store", true},
		{"hub/stream", "spoke/analyze", true},
		{"api/v1alpha1", "hub/store", true},
		{"proto/fleet/v1", "test/testbed", true},
		{"hub", "test/testbed", true},
		{"spoke/execute", "tools/fleetsim", true},
		{"hub/store", "api/v1alpha1", false},
		{"spoke/stream", "proto/fleet/v1", false},
		{"test/e2e", "hub/store", false},
		{"tools/kubectl-aiops", "proto/fleet/v1", false},
		{"hubble", "spoke", false}, // a prefix is not a directory
	}
	for _, c := range cases {
		got := violations(module+"/"+c.pkg, []string{module + "/" + c.imp})
		require.Equal(t, c.bad, len(got) > 0, "%s -> %s: %v", c.pkg, c.imp, got)
	}
}

// Every package of the module keeps to the rules.
func TestModuleKeepsLayering(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())

	var bad []string
	packages := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		packages++
		bad = append(bad, violations(fields[0], fields[1:])...)
	}
	require.NoError(t, sc.Err())
	require.Greater(t, packages, 3, "go list saw the module's packages")
	require.Empty(t, bad, "layering rules broken")
}
