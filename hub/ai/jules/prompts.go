package jules

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
)

// OnboardingInput is what an onboarding prompt says about the application. Every value goes to
// Jules: give placeholders for names that must not leave the hub.
type OnboardingInput struct {
	// Name is the application's name, used for the manifests' objects: a placeholder (as
	// "<workload-1>") when the hub does not share it.
	Name string
	// Path is the directory of the repository that holds the application; "" for the root.
	Path string
	// Ports are the ports the application listens on.
	Ports []aiopsv1alpha1.ApplicationPort
	// Replicas is the desired number of pods; 0 when unknown.
	Replicas int32
	// Requests and Limits are the main container's resources, e.g. "cpu=100m, memory=128Mi".
	Requests, Limits string
}

// OnboardingInputFor reads an OnboardingInput from a ManagedApplication; name is the name the
// prompt uses for it (the application's own, or an anonymised placeholder).
func OnboardingInputFor(app *aiopsv1alpha1.ManagedApplication, name string) OnboardingInput {
	in := OnboardingInput{Name: name, Ports: app.Spec.Ports}
	if g := app.Spec.Source.Git; g != nil {
		in.Path = g.Path
	}
	if app.Spec.Replicas != nil {
		in.Replicas = *app.Spec.Replicas
	}
	if r := app.Spec.Resources; r != nil {
		in.Requests = resourceList(r.Requests)
		in.Limits = resourceList(r.Limits)
	}
	return in
}

func resourceList(m corev1.ResourceList) string {
	var parts []string
	for _, k := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if v, ok := m[k]; ok {
			parts = append(parts, string(k)+"="+v.String())
		}
	}
	return strings.Join(parts, ", ")
}

// OnboardingPrompt is the prompt asking Jules for what a repository needs to run on
// Kubernetes: a Dockerfile, Kubernetes manifests and a CI pipeline.
func OnboardingPrompt(in OnboardingInput) string {
	var b strings.Builder
	where := "the repository's root"
	if in.Path != "" {
		where = "the directory " + in.Path
	}
	fmt.Fprintf(&b, "Prepare the application in %s, called %q, to be built and run on Kubernetes.\n\n", where, in.Name)
	b.WriteString("Add, as one change:\n")
	b.WriteString("1. A Dockerfile: a multi-stage build, a small final image, running as a non-root user, with no secrets baked in.\n")
	b.WriteString("2. Kubernetes manifests in deploy/k8s/ as YAML: a Deployment and a Service, and a PodDisruptionBudget. " +
		"The container runs as non-root with a read-only root filesystem, allowPrivilegeEscalation false and all capabilities dropped; " +
		"it has CPU and memory requests, a memory limit, and readiness and liveness probes. Set no namespace.\n")
	b.WriteString("3. A CI pipeline in .github/workflows/ci.yaml that runs the tests and builds the image on every push and pull request.\n\n")
	if len(in.Ports) > 0 {
		b.WriteString("The application listens on:")
		for _, p := range in.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = aiopsv1alpha1.ProtocolTCP
			}
			fmt.Fprintf(&b, " %s %d/%s;", p.Name, p.ContainerPort, proto)
		}
		b.WriteString("\n")
	}
	if in.Replicas > 0 {
		fmt.Fprintf(&b, "Run %d replicas.\n", in.Replicas)
	}
	if in.Requests != "" {
		fmt.Fprintf(&b, "Resource requests: %s.\n", in.Requests)
	}
	if in.Limits != "" {
		fmt.Fprintf(&b, "Resource limits: %s.\n", in.Limits)
	}
	b.WriteString("Change no application code. If something needed is missing from the repository, ask before guessing.\n")
	if strings.HasPrefix(in.Name, "<") {
		fmt.Fprintf(&b, "Names in angle brackets, such as %s, stand for names the operator keeps to itself: write them exactly as given, "+
			"in file contents and file names; they are replaced by the real names afterwards.\n", in.Name)
	}
	return b.String()
}

// CodeFixInput is what a code-fix prompt says about an incident. Diagnosis must already be
// anonymised: no cluster, namespace, workload or node names, addresses or credentials.
type CodeFixInput struct {
	// Diagnosis is the hub's diagnosis of the incident, anonymised.
	Diagnosis string
	// RootCause is the diagnosis' category, e.g. "ApplicationError".
	RootCause string
	// Signature is the incident's signature, e.g. "pod/CrashLoopBackOff".
	Signature string
}

// CodeFixPrompt is the prompt asking Jules for a code-level fix of an incident whose root cause
// the diagnosis places in the application.
func CodeFixPrompt(in CodeFixInput) string {
	var b strings.Builder
	b.WriteString("A running instance of this application has a problem whose root cause is in the application's code or configuration. ")
	b.WriteString("Propose the smallest change that fixes it, with a test that fails without the fix where that is practical.\n\n")
	if in.Signature != "" {
		fmt.Fprintf(&b, "Symptom: %s\n", in.Signature)
	}
	if in.RootCause != "" {
		fmt.Fprintf(&b, "Root cause category: %s\n", in.RootCause)
	}
	b.WriteString("Diagnosis (names and addresses replaced by placeholders):\n")
	b.WriteString(strings.TrimSpace(in.Diagnosis))
	b.WriteString("\n\nDo not change deployment manifests or infrastructure; explain in the commit message how the change addresses the diagnosis.\n")
	return b.String()
}
