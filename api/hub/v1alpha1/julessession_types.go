package hubv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// KindJulesSession is the kind of the hub's record of one Google Jules session.
const KindJulesSession = "JulesSession"

// JulesSessionPurpose says what the hub asked Jules for.
type JulesSessionPurpose string

// The purposes.
const (
	// JulesOnboarding: a Dockerfile, Kubernetes manifests and a CI pipeline for a
	// ManagedApplication's repository.
	JulesOnboarding JulesSessionPurpose = "Onboarding"
	// JulesCodeFix: a code-level fix for an incident whose root cause is in the application.
	JulesCodeFix JulesSessionPurpose = "CodeFix"
)

// JulesSessionPhase is where the hub's record of a session stands.
type JulesSessionPhase string

// The phases. Pending and Active sessions are polled by the leader; the others are final.
const (
	// JulesPending: a budget slot is reserved and the session is being created at Jules.
	JulesPending JulesSessionPhase = "Pending"
	// JulesActive: the session exists at Jules and is not finished.
	JulesActive JulesSessionPhase = "Active"
	// JulesCompleted: Jules completed the session.
	JulesCompleted JulesSessionPhase = "Completed"
	// JulesFailed: Jules failed the session, or it could not be created or followed.
	JulesFailed JulesSessionPhase = "Failed"
	// JulesClosed: the hub stopped following the session, which Jules may keep waiting: people
	// rejected its plan.
	JulesClosed JulesSessionPhase = "Closed"
)

// JulesSessionSpec is what the hub asked Jules to do. It never holds a credential.
type JulesSessionSpec struct {
	// Purpose is what the session is for.
	Purpose JulesSessionPurpose `json:"purpose"`

	// Day is the UTC day (YYYY-MM-DD) whose session budget the session counts against.
	Day string `json:"day"`

	// Source is the Jules source the session works on, e.g. "sources/github/org/repo".
	Source string `json:"source"`

	// StartingBranch is the branch Jules starts from.
	// +optional
	StartingBranch string `json:"startingBranch,omitempty"`

	// Title is the session's title at Jules; it carries the record's name, so a session
	// created by a member that failed before recording it can be found again.
	Title string `json:"title"`

	// Prompt is the prompt sent to Jules, already anonymised.
	Prompt string `json:"prompt"`

	// Placeholders map the placeholders of the prompt (as "<workload-1>") to the names they
	// stand for. They never leave the hub: what Jules answers (plan steps, messages, the patch,
	// the pull request) is recorded with the names put back.
	// +optional
	Placeholders map[string]string `json:"placeholders,omitempty"`

	// AutoCreatePR asks Jules to open a pull request when the change is ready.
	// +optional
	AutoCreatePR bool `json:"autoCreatePR,omitempty"`

	// ApplicationRef names the ManagedApplication ("namespace/name") an onboarding session is for.
	// +optional
	ApplicationRef string `json:"applicationRef,omitempty"`

	// IncidentRef names the Incident a code-fix session answers.
	// +optional
	IncidentRef string `json:"incidentRef,omitempty"`

	// RequestedBy is who asked for the session: a person or a hub component.
	// +optional
	RequestedBy string `json:"requestedBy,omitempty"`

	// TraceParent is the W3C traceparent the session's spans continue.
	// +optional
	TraceParent string `json:"traceParent,omitempty"`
}

// JulesPlanStep is one step of a plan Jules generated.
type JulesPlanStep struct {
	// ID is the step's id at Jules.
	// +optional
	ID string `json:"id,omitempty"`
	// Index is the step's position, from 0.
	Index int32 `json:"index"`
	// Title is the step's one-line summary.
	// +optional
	Title string `json:"title,omitempty"`
	// Description says what the step does.
	// +optional
	Description string `json:"description,omitempty"`
}

// JulesPlan is a plan Jules generated and awaits approval for.
type JulesPlan struct {
	// ID is the plan's id at Jules; an approval names it, so a plan Jules regenerated is not
	// approved by a decision on the earlier one.
	ID string `json:"id"`
	// Steps are the plan's steps, in order.
	// +optional
	Steps []JulesPlanStep `json:"steps,omitempty"`
	// ActivityName is the planGenerated activity that carried it.
	// +optional
	ActivityName string `json:"activityName,omitempty"`
	// CreateTime is when Jules generated it.
	// +optional
	CreateTime *metav1.Time `json:"createTime,omitempty"`
}

// JulesPlanApproval is a person's approval of a Jules plan, recorded before Jules is told.
type JulesPlanApproval struct {
	// PlanID is the Jules plan that was approved.
	PlanID string `json:"planID"`
	// By is the approver's identity.
	By string `json:"by"`
	// Time is when the approval was recorded.
	Time metav1.Time `json:"time"`
	// SentTime is when Jules accepted the approval; nil until then, and the leader resends it.
	// +optional
	SentTime *metav1.Time `json:"sentTime,omitempty"`
}

// JulesPatch is the change Jules proposed, from its latest changeSet.gitPatch artifact.
type JulesPatch struct {
	// UnidiffPatch is the change as a unified diff. Empty when Truncated.
	// +optional
	UnidiffPatch string `json:"unidiffPatch,omitempty"`
	// BaseCommitID is the commit the patch applies to.
	// +optional
	BaseCommitID string `json:"baseCommitID,omitempty"`
	// SuggestedCommitMessage is Jules' commit message for it.
	// +optional
	SuggestedCommitMessage string `json:"suggestedCommitMessage,omitempty"`
	// SHA256 is the digest of the whole patch, hex.
	SHA256 string `json:"sha256"`
	// Size is the patch's length in bytes.
	Size int64 `json:"size"`
	// Truncated is true when the patch was too large to keep; only its digest and size are.
	// +optional
	Truncated bool `json:"truncated,omitempty"`
	// Files are the paths the patch touches.
	// +optional
	Files []string `json:"files,omitempty"`
	// ActivityName is the activity that carried it.
	// +optional
	ActivityName string `json:"activityName,omitempty"`
}

// JulesPullRequest is a pull request a session opened.
type JulesPullRequest struct {
	URL string `json:"url"`
	// +optional
	Title string `json:"title,omitempty"`
	// +optional
	Description string `json:"description,omitempty"`
}

// JulesArtifactCounts summarises the artifacts a session's activities carried.
type JulesArtifactCounts struct {
	// +optional
	ChangeSets int32 `json:"changeSets,omitempty"`
	// +optional
	BashOutputs int32 `json:"bashOutputs,omitempty"`
	// +optional
	Media int32 `json:"media,omitempty"`
}

// JulesSessionStatus is what the hub has followed of the session.
type JulesSessionStatus struct {
	// Phase is where the record stands.
	// +optional
	Phase JulesSessionPhase `json:"phase,omitempty"`

	// SessionName is the session's resource name at Jules, "sessions/{id}".
	// +optional
	SessionName string `json:"sessionName,omitempty"`

	// URL is the session's page in the Jules web app.
	// +optional
	URL string `json:"url,omitempty"`

	// State is the session's last seen Jules state, e.g. "AWAITING_PLAN_APPROVAL".
	// +optional
	State string `json:"state,omitempty"`

	// PageToken is the token of the activity page being read ("" for the first page): polling
	// resumes there, after a leader failover too.
	// +optional
	PageToken string `json:"pageToken,omitempty"`

	// PageSeen are the ids of the activities of that page already processed.
	// +optional
	PageSeen []string `json:"pageSeen,omitempty"`

	// ActivitiesSeen counts the activities processed.
	// +optional
	ActivitiesSeen int32 `json:"activitiesSeen,omitempty"`

	// LastActivity is the name of the last activity processed.
	// +optional
	LastActivity string `json:"lastActivity,omitempty"`

	// LastProgress is the title of the last progress update.
	// +optional
	LastProgress string `json:"lastProgress,omitempty"`

	// Plan is the latest plan Jules generated.
	// +optional
	Plan *JulesPlan `json:"plan,omitempty"`

	// PlanRef names the KubeDevAIOps Plan a human reviews the Jules plan in.
	// +optional
	PlanRef string `json:"planRef,omitempty"`

	// Approval is the approval of the plan, once a human gave it.
	// +optional
	Approval *JulesPlanApproval `json:"approval,omitempty"`

	// PlanApproved is true once Jules reported the plan approved.
	// +optional
	PlanApproved bool `json:"planApproved,omitempty"`

	// AgentMessage is Jules' last message not yet answered by the user: its question when the
	// state is AWAITING_USER_FEEDBACK.
	// +optional
	AgentMessage string `json:"agentMessage,omitempty"`

	// Patch is the change Jules proposed.
	// +optional
	Patch *JulesPatch `json:"patch,omitempty"`

	// PullRequest is the pull request the session opened.
	// +optional
	PullRequest *JulesPullRequest `json:"pullRequest,omitempty"`

	// Artifacts counts the artifacts seen.
	// +optional
	Artifacts JulesArtifactCounts `json:"artifacts,omitempty"`

	// Message says why the session failed, or what is wrong in following it.
	// +optional
	Message string `json:"message,omitempty"`

	// Notified is true once the session's end was handed to the hub's hook.
	// +optional
	Notified bool `json:"notified,omitempty"`

	// LastPollTime is when the leader last polled the session.
	// +optional
	LastPollTime *metav1.Time `json:"lastPollTime,omitempty"`

	// CompletionTime is when the session reached a final state.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// JulesSession is the hub's record of one Google Jules session: what was asked, and what the
// leader has followed of it, so a new leader resumes where the last one stopped. Cluster-scoped;
// named after its budget slot, "jules-YYYYMMDD-NNN".
//
// +kubebuilder:object:root=true
type JulesSession struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   JulesSessionSpec   `json:"spec"`
	Status JulesSessionStatus `json:"status,omitempty"`
}

// JulesSessionList is a list of JulesSessions.
//
// +kubebuilder:object:root=true
type JulesSessionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []JulesSession `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, &JulesSession{}, &JulesSessionList{})
		return nil
	})
}
