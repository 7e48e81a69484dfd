package jules

// The Jules REST API v1alpha resources, as JSON. Field names are the API's; output-only fields
// are ignored by the server on input.

// State is a session's state.
type State string

// The session states.
const (
	StateUnspecified          State = "STATE_UNSPECIFIED"
	StateQueued               State = "QUEUED"
	StatePlanning             State = "PLANNING"
	StateAwaitingPlanApproval State = "AWAITING_PLAN_APPROVAL"
	StateAwaitingUserFeedback State = "AWAITING_USER_FEEDBACK"
	StateInProgress           State = "IN_PROGRESS"
	StatePaused               State = "PAUSED"
	StateFailed               State = "FAILED"
	StateCompleted            State = "COMPLETED"
)

// Final reports whether the session will not change any more.
func (s State) Final() bool { return s == StateCompleted || s == StateFailed }

// AutomationMode says what Jules does on its own when a change is ready.
type AutomationMode string

// The automation modes.
const (
	AutomationModeUnspecified AutomationMode = "AUTOMATION_MODE_UNSPECIFIED"
	AutoCreatePR              AutomationMode = "AUTO_CREATE_PR"
)

// Session is a unit of work Jules does on a source.
type Session struct {
	Name                string          `json:"name,omitempty"` // "sessions/{id}"
	ID                  string          `json:"id,omitempty"`
	Prompt              string          `json:"prompt"`
	SourceContext       *SourceContext  `json:"sourceContext,omitempty"`
	Title               string          `json:"title,omitempty"`
	RequirePlanApproval bool            `json:"requirePlanApproval,omitempty"`
	AutomationMode      AutomationMode  `json:"automationMode,omitempty"`
	CreateTime          string          `json:"createTime,omitempty"`
	UpdateTime          string          `json:"updateTime,omitempty"`
	State               State           `json:"state,omitempty"`
	URL                 string          `json:"url,omitempty"`
	Outputs             []SessionOutput `json:"outputs,omitempty"`
}

// PullRequest returns the first pull request among the session's outputs, or nil.
func (s *Session) PullRequest() *PullRequest {
	for _, o := range s.Outputs {
		if o.PullRequest != nil {
			return o.PullRequest
		}
	}
	return nil
}

// SourceContext is the source a session works on, and how.
type SourceContext struct {
	Source            string             `json:"source"` // "sources/{source}"
	GitHubRepoContext *GitHubRepoContext `json:"githubRepoContext,omitempty"`
}

// GitHubRepoContext says how a session uses a GitHub repository.
type GitHubRepoContext struct {
	StartingBranch string `json:"startingBranch,omitempty"`
}

// SessionOutput is one result of a session.
type SessionOutput struct {
	PullRequest *PullRequest `json:"pullRequest,omitempty"`
}

// PullRequest is a pull request a session opened.
type PullRequest struct {
	URL         string `json:"url,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// Activity is one event of a session. Exactly one of the kind fields is set.
type Activity struct {
	Name        string     `json:"name,omitempty"` // "sessions/{session}/activities/{activity}"
	ID          string     `json:"id,omitempty"`
	Description string     `json:"description,omitempty"`
	CreateTime  string     `json:"createTime,omitempty"`
	Originator  string     `json:"originator,omitempty"` // "user", "agent" or "system"
	Artifacts   []Artifact `json:"artifacts,omitempty"`

	AgentMessaged    *AgentMessaged    `json:"agentMessaged,omitempty"`
	UserMessaged     *UserMessaged     `json:"userMessaged,omitempty"`
	PlanGenerated    *PlanGenerated    `json:"planGenerated,omitempty"`
	PlanApproved     *PlanApproved     `json:"planApproved,omitempty"`
	ProgressUpdated  *ProgressUpdated  `json:"progressUpdated,omitempty"`
	SessionCompleted *SessionCompleted `json:"sessionCompleted,omitempty"`
	SessionFailed    *SessionFailed    `json:"sessionFailed,omitempty"`
}

// ActivityKind names the kind of an activity.
type ActivityKind string

// The activity kinds, named as their JSON fields.
const (
	KindUnknown          ActivityKind = ""
	KindAgentMessaged    ActivityKind = "agentMessaged"
	KindUserMessaged     ActivityKind = "userMessaged"
	KindPlanGenerated    ActivityKind = "planGenerated"
	KindPlanApproved     ActivityKind = "planApproved"
	KindProgressUpdated  ActivityKind = "progressUpdated"
	KindSessionCompleted ActivityKind = "sessionCompleted"
	KindSessionFailed    ActivityKind = "sessionFailed"
)

// Kind returns the activity's kind; KindUnknown for a kind this client does not know.
func (a *Activity) Kind() ActivityKind {
	switch {
	case a.AgentMessaged != nil:
		return KindAgentMessaged
	case a.UserMessaged != nil:
		return KindUserMessaged
	case a.PlanGenerated != nil:
		return KindPlanGenerated
	case a.PlanApproved != nil:
		return KindPlanApproved
	case a.ProgressUpdated != nil:
		return KindProgressUpdated
	case a.SessionCompleted != nil:
		return KindSessionCompleted
	case a.SessionFailed != nil:
		return KindSessionFailed
	}
	return KindUnknown
}

// AgentMessaged is a message from Jules.
type AgentMessaged struct {
	AgentMessage string `json:"agentMessage,omitempty"`
}

// UserMessaged is a message from the user.
type UserMessaged struct {
	UserMessage string `json:"userMessage,omitempty"`
}

// PlanGenerated carries a plan Jules generated.
type PlanGenerated struct {
	Plan *Plan `json:"plan,omitempty"`
}

// Plan is a sequence of steps Jules proposes.
type Plan struct {
	ID         string     `json:"id,omitempty"`
	Steps      []PlanStep `json:"steps,omitempty"`
	CreateTime string     `json:"createTime,omitempty"`
}

// PlanStep is one step of a plan.
type PlanStep struct {
	ID          string `json:"id,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Index       int32  `json:"index,omitempty"`
}

// PlanApproved says a plan was approved.
type PlanApproved struct {
	PlanID string `json:"planId,omitempty"`
}

// ProgressUpdated is a progress report.
type ProgressUpdated struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// SessionCompleted says the session completed.
type SessionCompleted struct{}

// SessionFailed says the session failed, and why.
type SessionFailed struct {
	Reason string `json:"reason,omitempty"`
}

// Artifact is a unit of data an activity produced. Exactly one field is set.
type Artifact struct {
	ChangeSet  *ChangeSet  `json:"changeSet,omitempty"`
	Media      *Media      `json:"media,omitempty"`
	BashOutput *BashOutput `json:"bashOutput,omitempty"`
}

// ChangeSet is a set of changes to a source.
type ChangeSet struct {
	Source   string    `json:"source,omitempty"`
	GitPatch *GitPatch `json:"gitPatch,omitempty"`
}

// GitPatch is a change in Git's patch form.
type GitPatch struct {
	UnidiffPatch           string `json:"unidiffPatch,omitempty"`
	BaseCommitID           string `json:"baseCommitId,omitempty"`
	SuggestedCommitMessage string `json:"suggestedCommitMessage,omitempty"`
}

// Media is a media file, e.g. a screenshot.
type Media struct {
	Data     string `json:"data,omitempty"` // base64
	MimeType string `json:"mimeType,omitempty"`
}

// BashOutput is the output of a command Jules ran.
type BashOutput struct {
	Command  string `json:"command,omitempty"`
	Output   string `json:"output,omitempty"`
	ExitCode int32  `json:"exitCode,omitempty"`
}

// Source is a repository connected to Jules.
type Source struct {
	Name       string      `json:"name,omitempty"` // "sources/{source}"
	ID         string      `json:"id,omitempty"`
	GitHubRepo *GitHubRepo `json:"githubRepo,omitempty"`
}

// GitHubRepo is a GitHub repository.
type GitHubRepo struct {
	Owner         string          `json:"owner,omitempty"`
	Repo          string          `json:"repo,omitempty"`
	IsPrivate     bool            `json:"isPrivate,omitempty"`
	DefaultBranch *GitHubBranch   `json:"defaultBranch,omitempty"`
	Branches      []*GitHubBranch `json:"branches,omitempty"`
}

// GitHubBranch is a branch of a GitHub repository.
type GitHubBranch struct {
	DisplayName string `json:"displayName,omitempty"`
}

// ListSourcesResponse is one page of sources.
type ListSourcesResponse struct {
	Sources       []Source `json:"sources,omitempty"`
	NextPageToken string   `json:"nextPageToken,omitempty"`
}

// ListSessionsResponse is one page of sessions.
type ListSessionsResponse struct {
	Sessions      []Session `json:"sessions,omitempty"`
	NextPageToken string    `json:"nextPageToken,omitempty"`
}

// ListActivitiesResponse is one page of a session's activities, oldest first.
type ListActivitiesResponse struct {
	Activities    []Activity `json:"activities,omitempty"`
	NextPageToken string     `json:"nextPageToken,omitempty"`
}

// sendMessageRequest is the body of sessions.sendMessage.
type sendMessageRequest struct {
	Prompt string `json:"prompt"`
}
