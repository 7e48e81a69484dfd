package jules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
)

func TestGitHubRepository(t *testing.T) {
	for _, tt := range []struct{ url, owner, repo, err string }{
		{url: "https://github.com/acme/shop", owner: "acme", repo: "shop"},
		{url: "https://github.com/acme/shop.git", owner: "acme", repo: "shop"},
		{url: "ssh://git@github.com/acme/shop.git", owner: "acme", repo: "shop"},
		{url: "git@github.com:acme/shop.git", owner: "acme", repo: "shop"},
		{url: "https://gitlab.com/acme/shop", err: "GitHub repositories only"},
		{url: "https://github.com/acme", err: "owner/repository"},
		{url: "ftp://github.com/acme/shop", err: "not an https, ssh"},
	} {
		owner, repo, err := jules.GitHubRepository(tt.url)
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err, tt.url)
			continue
		}
		require.NoError(t, err, tt.url)
		assert.Equal(t, [2]string{tt.owner, tt.repo}, [2]string{owner, repo}, tt.url)
	}
}

func TestPrompts(t *testing.T) {
	app := shopApp()
	app.Spec.Source.Git.Path = "services/shop"
	app.Spec.Resources = &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
	p := jules.OnboardingPrompt(jules.OnboardingInputFor(app, "<app-1>"))
	for _, want := range []string{`"<app-1>"`, "the directory services/shop", "cpu=250m, memory=256Mi", "Resource limits: memory=512Mi", "non-root", "Set no namespace"} {
		assert.Contains(t, p, want)
	}
	fix := jules.CodeFixPrompt(jules.CodeFixInput{Diagnosis: "  <workload-1> exhausts the pool.  ", RootCause: "ApplicationError", Signature: "pod/CrashLoopBackOff"})
	assert.Contains(t, fix, "Symptom: pod/CrashLoopBackOff")
	assert.Contains(t, fix, "Root cause category: ApplicationError")
	assert.Contains(t, fix, ":\n<workload-1> exhausts the pool.\n")
}

func TestStartingBranch(t *testing.T) {
	for rev, want := range map[string]string{
		"": "", "HEAD": "", "main": "main", "release/1.2": "release/1.2",
		"0123456789abcdef0123456789abcdef01234567": "",
	} {
		assert.Equal(t, want, jules.StartingBranch(rev), rev)
	}
}
