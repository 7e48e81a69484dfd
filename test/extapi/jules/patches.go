package jules

import (
	"crypto/sha1" //nolint:gosec // git's blob ids are SHA-1
	"encoding/hex"
	"fmt"
	"strings"
)

// File is one file of a patch the server produces.
type File struct {
	Path    string
	Content string
}

// OnboardingFiles are the files the server's Jules proposes when asked to onboard repository
// owner/repo: a Dockerfile, Kubernetes manifests (one file holding two documents) and a CI
// pipeline. The manifests are valid for a server-side dry-run in any namespace.
func OnboardingFiles(owner, repo string) []File {
	app := strings.ToLower(repo)
	image := fmt.Sprintf("ghcr.io/%s/%s:0.1.0", strings.ToLower(owner), app)
	return []File{
		{Path: "Dockerfile", Content: `FROM golang:1.26 AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/app .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app"]
`},
		{Path: "deploy/k8s/deployment.yaml", Content: fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels:
    app.kubernetes.io/name: %[1]s
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: %[1]s
  template:
    metadata:
      labels:
        app.kubernetes.io/name: %[1]s
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: %[1]s
          image: %[2]s
          ports:
            - name: http
              containerPort: 8080
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              memory: 256Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
`, app, image)},
		{Path: "deploy/k8s/service.yaml", Content: fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  labels:
    app.kubernetes.io/name: %[1]s
spec:
  selector:
    app.kubernetes.io/name: %[1]s
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: %[1]s
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: %[1]s
`, app)},
		{Path: ".github/workflows/ci.yaml", Content: fmt.Sprintf(`name: ci
on:
  push:
    branches: [main]
  pull_request:
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@v5
        with:
          go-version: "1.26"
      - run: go test ./...
      - run: docker build -t %s .
`, image)},
	}
}

// OnboardingPatch is the unified diff adding OnboardingFiles(owner, repo), and a line in the
// existing README.
func OnboardingPatch(owner, repo string) string {
	var b strings.Builder
	for _, f := range OnboardingFiles(owner, repo) {
		b.WriteString(NewFileDiff(f))
	}
	b.WriteString(`diff --git a/README.md b/README.md
index 3b18e51..8f94139 100644
--- a/README.md
+++ b/README.md
@@ -1,2 +1,4 @@
 # ` + repo + `
 A small web service.
+
+Build the image with ` + "`docker build .`" + `; the Kubernetes manifests are in deploy/k8s.
`)
	return b.String()
}

// CodeFixPatch is the unified diff the server's Jules proposes for a code-level fix.
func CodeFixPatch() string {
	return `diff --git a/internal/store/pool.go b/internal/store/pool.go
index 5d1c2a0..9e7b3f4 100644
--- a/internal/store/pool.go
+++ b/internal/store/pool.go
@@ -10,6 +10,8 @@ func Open(dsn string) (*sql.DB, error) {
 	if err != nil {
 		return nil, err
 	}
-	db.SetMaxOpenConns(0)
+	// Bound the pool: an unbounded one exhausted the database's connections under load.
+	db.SetMaxOpenConns(20)
+	db.SetConnMaxIdleTime(time.Minute)
 	return db, nil
 }
`
}

// NewFileDiff is the git diff that creates f.
func NewFileDiff(f File) string {
	lines := strings.SplitAfter(f.Content, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "diff --git a/%[1]s b/%[1]s\nnew file mode 100644\nindex 0000000..%[2]s\n--- /dev/null\n+++ b/%[1]s\n@@ -0,0 +1,%[3]d @@\n",
		f.Path, blobID(f.Content)[:7], len(lines))
	for _, l := range lines {
		b.WriteString("+" + l)
		if !strings.HasSuffix(l, "\n") {
			b.WriteString("\n\\ No newline at end of file\n")
		}
	}
	return b.String()
}

// blobID is git's object id of a blob with content c.
func blobID(c string) string {
	h := sha1.New() //nolint:gosec // git's blob ids are SHA-1
	fmt.Fprintf(h, "blob %d\x00", len(c))
	h.Write([]byte(c))
	return hex.EncodeToString(h.Sum(nil))
}
