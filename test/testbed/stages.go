package testbed

import _ "embed"

// Failure-injection stages of the project's own, for ClusterOptions.Stages. Each acts on pods
// that carry the label InjectLabel with the stage's value, after kwok has made them Running.
var (
	// StageCrashLoop: the pod's containers go to CrashLoopBackOff after exiting with status 1.
	//go:embed stages/pod-crashloop.yaml
	StageCrashLoop string
	// StageOOMKilled: the pod's containers go to CrashLoopBackOff after being OOMKilled (137).
	//go:embed stages/pod-oomkilled.yaml
	StageOOMKilled string
)

// InjectLabel selects the failure stage that acts on a pod: "crashloop" or "oomkilled".
const InjectLabel = "testbed.kubedevaiops.io/inject"
