package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The test binaries, as `make testbin` (tools/testbin/build.sh) names them.
const (
	binEtcd              = "etcd"
	binAPIServer         = "kube-apiserver"
	binControllerManager = "kube-controller-manager"
	binScheduler         = "kube-scheduler"
	binKwok              = "kwok"
	binVault             = "vault"
)

const modulePath = "github.com/kubedevaiops/kubedevaiops"

// binary returns the path of a test binary: $TESTBIN/<name> when TESTBIN is set, otherwise
// bin/testbin/<name> under the root of this repository.
func binary(name string) (string, error) {
	dir := os.Getenv("TESTBIN")
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "bin", "testbin")
	}
	path := filepath.Join(dir, name)
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("test binary %s not found at %s: run `make testbin` first", name, path)
	}
	return path, nil
}

// repoRoot walks up from the working directory (go test runs in the package directory) to the
// directory whose go.mod declares this project's module.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module "+modulePath+"\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("cannot find the repository root (a go.mod for %s) above the working directory; set TESTBIN", modulePath)
		}
		dir = parent
	}
}
