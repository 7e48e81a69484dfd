package jules_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	julesserver "github.com/kubedevaiops/kubedevaiops/test/extapi/jules"
)

func TestManifestsFromServerPatch(t *testing.T) {
	patch := julesserver.OnboardingPatch("acme", "shop")
	files, err := jules.ParsePatch(patch)
	require.NoError(t, err)
	want := julesserver.OnboardingFiles("acme", "shop")
	require.Len(t, files, len(want)+1, "the new files and the README change")
	for i, f := range want {
		assert.Equal(t, f.Path, files[i].Path)
		assert.True(t, files[i].Created, f.Path)
		assert.Empty(t, files[i].OldPath, f.Path)
		assert.Equal(t, f.Content, files[i].Content, "%s is rebuilt exactly", f.Path)
	}
	readme := files[len(files)-1]
	assert.Equal(t, "README.md", readme.Path)
	assert.Equal(t, "README.md", readme.OldPath)
	assert.False(t, readme.Created)

	manifests, partial, err := jules.ManifestsFromPatch(patch)
	require.NoError(t, err)
	assert.Empty(t, partial)
	var got []string
	for _, m := range manifests {
		got = append(got, m.Path+"#"+string(rune('0'+m.Index))+" "+m.APIVersion+"/"+m.Kind+" "+m.Name)
	}
	assert.Equal(t, []string{
		"deploy/k8s/deployment.yaml#0 apps/v1/Deployment shop",
		"deploy/k8s/service.yaml#0 v1/Service shop",
		"deploy/k8s/service.yaml#1 policy/v1/PodDisruptionBudget shop",
	}, got, "the CI workflow is YAML but not a Kubernetes object")
	assert.Contains(t, string(manifests[0].YAML), "readOnlyRootFilesystem: true")
	assert.NotContains(t, string(manifests[1].YAML), "PodDisruptionBudget")
}

func TestParsePatch(t *testing.T) {
	tests := []struct {
		name    string
		patch   string
		want    []jules.PatchFile
		wantErr string
	}{
		{
			name:  "no newline at end of file",
			patch: julesserver.NewFileDiff(julesserver.File{Path: "a.txt", Content: "one\ntwo"}),
			want:  []jules.PatchFile{{Path: "a.txt", Created: true, Content: "one\ntwo"}},
		},
		{
			name: "plain diff of two files without git headers",
			patch: "--- a/x.go\t2026-01-01\n+++ b/x.go\t2026-01-02\n@@ -1,2 +1,2 @@\n-old\n+new\n ctx\n" +
				"--- /dev/null\n+++ b/y.yaml\n@@ -0,0 +1 @@\n+k: v\n",
			want: []jules.PatchFile{{Path: "x.go", OldPath: "x.go", Content: "new\n"}, {Path: "y.yaml", Created: true, Content: "k: v\n"}},
		},
		{
			name:  "deleted file",
			patch: "diff --git a/gone.yaml b/gone.yaml\ndeleted file mode 100644\nindex 1..0\n--- a/gone.yaml\n+++ /dev/null\n@@ -1 +0,0 @@\n-k: v\n",
			want:  []jules.PatchFile{{OldPath: "gone.yaml", Deleted: true}},
		},
		{
			name:  "quoted path with a space",
			patch: "diff --git \"a/my dir/f.yaml\" \"b/my dir/f.yaml\"\nnew file mode 100644\n--- /dev/null\n+++ \"b/my dir/f.yaml\"\n@@ -0,0 +1 @@\n+a: 1\n",
			want:  []jules.PatchFile{{Path: "my dir/f.yaml", Created: true, Content: "a: 1\n"}},
		},
		{
			name:  "binary",
			patch: "diff --git a/logo.png b/logo.png\nnew file mode 100644\nBinary files /dev/null and b/logo.png differ\n",
			want:  []jules.PatchFile{{Path: "logo.png", OldPath: "logo.png", Created: true, Binary: true}},
		},
		{
			name:  "empty context line without its space",
			patch: "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n",
			want:  []jules.PatchFile{{Path: "f", OldPath: "f", Content: "c\n"}},
		},
		{name: "truncated hunk", patch: "--- /dev/null\n+++ b/f.yaml\n@@ -0,0 +1,3 @@\n+a: 1\n", wantErr: "ends inside a hunk"},
		{name: "hunk longer than said", patch: "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n+c\n", wantErr: "outside any hunk"},
		{name: "corrupt hunk line", patch: "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-a\n*b\n", wantErr: "corrupt hunk"},
		{name: "malformed hunk header", patch: "--- a/f\n+++ b/f\n@@ -x +1 @@\n+a\n", wantErr: "malformed hunk header"},
		{name: "hunk without a file", patch: "@@ -0,0 +1 @@\n+a\n", wantErr: "before any file header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jules.ParsePatch(tt.patch)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestManifestsFromPatchRefusals(t *testing.T) {
	newFile := func(path, content string) string {
		return julesserver.NewFileDiff(julesserver.File{Path: path, Content: content})
	}
	_, _, err := jules.ManifestsFromPatch(newFile("k8s/bad.yaml", "apiVersion: v1\nkind: [unclosed\n"))
	require.ErrorContains(t, err, "k8s/bad.yaml")

	_, _, err = jules.ManifestsFromPatch(newFile("k8s/noname.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"))
	require.ErrorContains(t, err, "has no metadata.name")

	m, partial, err := jules.ManifestsFromPatch("--- a/k8s/dep.yaml\n+++ b/k8s/dep.yaml\n@@ -1 +1 @@\n-replicas: 1\n+replicas: 2\n" +
		newFile("k8s/cm.yaml", "# a comment only document\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: shop\n---\n- a list\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"k8s/dep.yaml"}, partial, "a changed manifest's whole content is not in the patch")
	require.Len(t, m, 1)
	assert.Equal(t, "cfg", m[0].Name)
	assert.Equal(t, "shop", m[0].Namespace)
	assert.Equal(t, 0, m[0].Index)
}

func FuzzParsePatch(f *testing.F) {
	f.Add(julesserver.OnboardingPatch("acme", "shop"))
	f.Add(julesserver.CodeFixPatch())
	f.Add("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n\\ No newline at end of file\n")
	f.Add("diff --git \"a/x\" \"b/x\"\n")
	f.Fuzz(func(t *testing.T, patch string) {
		files, err := jules.ParsePatch(patch)
		if err != nil {
			return
		}
		for _, f := range files {
			if f.Path == "" && f.OldPath == "" {
				t.Fatalf("a file without a path: %+v", f)
			}
			if len(f.Content) > len(patch) {
				t.Fatalf("content longer than the patch")
			}
		}
		ms, _, err := jules.ManifestsFromPatch(patch)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.Name == "" || m.Kind == "" || m.APIVersion == "" || !strings.Contains(patch, m.Name) {
				t.Fatalf("manifest without identity: %+v", m)
			}
		}
	})
}

func TestCodeFixPatchParses(t *testing.T) {
	files, err := jules.ParsePatch(julesserver.CodeFixPatch())
	require.NoError(t, err)
	require.Len(t, files, 1)
	assert.Equal(t, "internal/store/pool.go", files[0].Path)
}
