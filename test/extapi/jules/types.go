package jules

// The server's own rendering of the Jules v1alpha resources, written from the API reference
// independently of the hub's client, so that a client mistake is not mirrored here.

type session struct {
	Name                string         `json:"name,omitempty"`
	ID                  string         `json:"id,omitempty"`
	Prompt              string         `json:"prompt"`
	SourceContext       *sourceContext `json:"sourceContext,omitempty"`
	Title               string         `json:"title,omitempty"`
	RequirePlanApproval bool           `json:"requirePlanApproval,omitempty"` // input only
	AutomationMode      string         `json:"automationMode,omitempty"`      // input only
	CreateTime          string         `json:"createTime,omitempty"`
	UpdateTime          string         `json:"updateTime,omitempty"`
	State               string         `json:"state,omitempty"`
	URL                 string         `json:"url,omitempty"`
	Outputs             []output       `json:"outputs,omitempty"`
}

type sourceContext struct {
	Source            string             `json:"source"`
	GitHubRepoContext *githubRepoContext `json:"githubRepoContext,omitempty"`
}

type githubRepoContext struct {
	StartingBranch string `json:"startingBranch"`
}

type output struct {
	PullRequest *pullRequest `json:"pullRequest,omitempty"`
}

type pullRequest struct {
	URL         string `json:"url"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

type activity struct {
	Name        string     `json:"name"`
	ID          string     `json:"id"`
	Description string     `json:"description,omitempty"`
	CreateTime  string     `json:"createTime"`
	Originator  string     `json:"originator"`
	Artifacts   []artifact `json:"artifacts,omitempty"`

	AgentMessaged    *agentMessaged    `json:"agentMessaged,omitempty"`
	UserMessaged     *userMessaged     `json:"userMessaged,omitempty"`
	PlanGenerated    *planGenerated    `json:"planGenerated,omitempty"`
	PlanApproved     *planApproved     `json:"planApproved,omitempty"`
	ProgressUpdated  *progressUpdated  `json:"progressUpdated,omitempty"`
	SessionCompleted *struct{}         `json:"sessionCompleted,omitempty"`
	SessionFailed    *sessionFailedMsg `json:"sessionFailed,omitempty"`
}

type agentMessaged struct {
	AgentMessage string `json:"agentMessage"`
}

type userMessaged struct {
	UserMessage string `json:"userMessage"`
}

type planGenerated struct {
	Plan plan `json:"plan"`
}

type plan struct {
	ID         string     `json:"id"`
	Steps      []planStep `json:"steps"`
	CreateTime string     `json:"createTime"`
}

type planStep struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Index       int    `json:"index"`
}

type planApproved struct {
	PlanID string `json:"planId"`
}

type progressUpdated struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

type sessionFailedMsg struct {
	Reason string `json:"reason"`
}

type artifact struct {
	ChangeSet  *changeSet  `json:"changeSet,omitempty"`
	Media      *media      `json:"media,omitempty"`
	BashOutput *bashOutput `json:"bashOutput,omitempty"`
}

type changeSet struct {
	Source   string   `json:"source"`
	GitPatch gitPatch `json:"gitPatch"`
}

type gitPatch struct {
	UnidiffPatch           string `json:"unidiffPatch"`
	BaseCommitID           string `json:"baseCommitId"`
	SuggestedCommitMessage string `json:"suggestedCommitMessage"`
}

type media struct {
	Data     string `json:"data"`
	MimeType string `json:"mimeType"`
}

type bashOutput struct {
	Command  string `json:"command"`
	Output   string `json:"output"`
	ExitCode int    `json:"exitCode"`
}

// Source is a repository connected to the server's Jules account.
type Source struct {
	// Owner and Repo name the GitHub repository; the source is "sources/github/{owner}/{repo}".
	Owner, Repo string
	// Branches are its branches; the first is the default. "main" when empty.
	Branches []string
	Private  bool
}

func (s Source) id() string   { return "github/" + s.Owner + "/" + s.Repo }
func (s Source) name() string { return "sources/" + s.id() }

func (s Source) branches() []string {
	if len(s.Branches) == 0 {
		return []string{"main"}
	}
	return s.Branches
}

type sourceJSON struct {
	Name       string         `json:"name"`
	ID         string         `json:"id"`
	GitHubRepo githubRepoJSON `json:"githubRepo"`
}

type githubRepoJSON struct {
	Owner         string       `json:"owner"`
	Repo          string       `json:"repo"`
	IsPrivate     bool         `json:"isPrivate"`
	DefaultBranch branchJSON   `json:"defaultBranch"`
	Branches      []branchJSON `json:"branches"`
}

type branchJSON struct {
	DisplayName string `json:"displayName"`
}

func (s Source) json() sourceJSON {
	out := sourceJSON{Name: s.name(), ID: s.id(), GitHubRepo: githubRepoJSON{Owner: s.Owner, Repo: s.Repo, IsPrivate: s.Private}}
	for i, b := range s.branches() {
		if i == 0 {
			out.GitHubRepo.DefaultBranch = branchJSON{DisplayName: b}
		}
		out.GitHubRepo.Branches = append(out.GitHubRepo.Branches, branchJSON{DisplayName: b})
	}
	return out
}

type sendMessageBody struct {
	Prompt string `json:"prompt"`
}

type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}
