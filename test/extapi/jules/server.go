package jules

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scenario is the course a session takes.
type Scenario int

// The scenarios.
const (
	// Complete: QUEUED -> PLANNING -> AWAITING_PLAN_APPROVAL -> (approvePlan) -> IN_PROGRESS ->
	// COMPLETED, with a bash output and a patch; a pull request under AUTO_CREATE_PR. Without
	// requirePlanApproval the plan is approved by the system and the session goes on.
	Complete Scenario = iota
	// Feedback: as Complete, but after planning Jules asks a question (AWAITING_USER_FEEDBACK)
	// and plans only once sendMessage answered it.
	Feedback
	// Fail: QUEUED -> PLANNING -> FAILED.
	Fail
)

// Options configure a Server.
type Options struct {
	// APIKey is the one key the server accepts. Required.
	APIKey string
	// DeniedKeys are keys the server knows but that have no access to Jules: 403. Any other
	// key, or none, is 401.
	DeniedKeys []string
	// Sources are the connected repositories; one, acme/shop with main and develop, when empty.
	Sources []Source
	// ScenarioFor picks a new session's scenario from its prompt; Complete when nil.
	ScenarioFor func(prompt string) Scenario
	// PatchFor is the unified diff a session of the given prompt and source ends with; the
	// onboarding patch for prompts that ask for a Dockerfile, the code-fix patch otherwise.
	PatchFor func(prompt string, src Source) string
	// Start is the virtual clock's start; 2026-01-05T09:00:00Z when zero. Every Step moves it
	// on a minute.
	Start time.Time
}

// Fault makes matching requests fail, after authentication.
type Fault struct {
	// Method and PathPrefix select requests ("" matches any); the path is after /v1alpha/,
	// e.g. "sessions" or "sessions/1001:approvePlan".
	Method, PathPrefix string
	// Status is the HTTP status answered, e.g. 429 or 500.
	Status int
	// RetryAfter is the Retry-After header sent, when not empty.
	RetryAfter string
	// Times is how many requests fail; 1 when 0.
	Times int
}

// Request is one request the server received, as received.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	// Status is what the server answered.
	Status int
}

// Server is a local implementation of the Jules REST API v1alpha: sources, sessions and their
// activities with pagination, approvePlan and sendMessage, the documented states and errors.
// Sessions move only when the test calls Step, on a virtual clock, so tests need no sleeps.
type Server struct {
	opts Options
	http *httptest.Server

	mu       sync.Mutex
	now      time.Time
	nextID   int
	sessions map[string]*sessionState
	order    []string // session ids, oldest first
	faults   []*Fault
	requests []Request
}

type sessionState struct {
	s          session
	src        Source
	scenario   Scenario
	approval   bool
	autoPR     bool
	asked      bool // the Feedback question was asked
	planID     string
	inProgress int // steps taken in IN_PROGRESS
	activities []activity
}

// Start runs a server on a loopback port; Close stops it.
func Start(opts Options) *Server {
	if opts.APIKey == "" {
		panic("jules test server: Options.APIKey is required")
	}
	if len(opts.Sources) == 0 {
		opts.Sources = []Source{{Owner: "acme", Repo: "shop", Branches: []string{"main", "develop"}}}
	}
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	}
	s := &Server{opts: opts, now: opts.Start, nextID: 1, sessions: map[string]*sessionState{}}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is the API's base, e.g. "http://127.0.0.1:1234/v1alpha".
func (s *Server) BaseURL() string { return s.http.URL + "/v1alpha" }

// Close stops the server.
func (s *Server) Close() { s.http.Close() }

// InjectFault adds a fault; faults are consumed in the order added.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &f)
}

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// SessionIDs returns the ids of the sessions created, oldest first.
func (s *Server) SessionIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

// State returns a session's state.
func (s *Server) State(id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sessions[id]
	if !ok {
		return "", fmt.Errorf("no session %q", id)
	}
	return st.s.State, nil
}

// ActivityCount returns how many activities a session has.
func (s *Server) ActivityCount(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.sessions[id]; ok {
		return len(st.activities)
	}
	return 0
}

// Step moves a session on by one transition and returns its new state. A session waiting for
// the user (plan approval, feedback) or finished does not move: that is an error.
func (s *Server) Step(id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sessions[id]
	if !ok {
		return "", fmt.Errorf("no session %q", id)
	}
	s.now = s.now.Add(time.Minute)
	switch st.s.State {
	case "QUEUED":
		s.setState(st, "PLANNING")
		s.add(st, activity{Originator: "agent", Description: "Jules is reading the repository",
			ProgressUpdated: &progressUpdated{Title: "Cloned " + st.src.Owner + "/" + st.src.Repo, Description: "Reading the repository to plan the change"}})
	case "PLANNING":
		switch {
		case st.scenario == Fail:
			s.setState(st, "FAILED")
			s.add(st, activity{Originator: "system", Description: "Session failed",
				SessionFailed: &sessionFailedMsg{Reason: "the repository's build could not be set up: go.mod not found"}})
		case st.scenario == Feedback && !st.asked:
			st.asked = true
			s.setState(st, "AWAITING_USER_FEEDBACK")
			s.add(st, activity{Originator: "agent", Description: "Jules has a question",
				AgentMessaged: &agentMessaged{AgentMessage: "Which port does the service listen on?"}})
		default:
			s.generatePlan(st)
		}
	case "IN_PROGRESS":
		st.inProgress++
		if st.inProgress == 1 {
			s.add(st, activity{Originator: "agent", Description: "Ran the build",
				ProgressUpdated: &progressUpdated{Title: "Built and tested the change"},
				Artifacts: []artifact{
					{BashOutput: &bashOutput{Command: "go test ./...", Output: "ok  \tgithub.com/" + st.src.Owner + "/" + st.src.Repo + "\t0.412s\n", ExitCode: 0}},
					{Media: &media{MimeType: "image/png", Data: base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n"))}},
				}})
			return st.s.State, nil
		}
		s.complete(st)
	default:
		return st.s.State, fmt.Errorf("session %s is %s and does not move on its own", id, st.s.State)
	}
	return st.s.State, nil
}

// StepUntilWaiting steps a session until it waits for the user or is finished.
func (s *Server) StepUntilWaiting(id string) (string, error) {
	for range 20 {
		state, err := s.State(id)
		if err != nil {
			return "", err
		}
		switch state {
		case "AWAITING_PLAN_APPROVAL", "AWAITING_USER_FEEDBACK", "COMPLETED", "FAILED", "PAUSED":
			return state, nil
		}
		if _, err := s.Step(id); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("session %s did not settle", id)
}

func (s *Server) generatePlan(st *sessionState) {
	st.planID = fmt.Sprintf("plan-%s-%d", st.s.ID, len(st.activities))
	steps := []planStep{
		{Title: "Inspect the repository", Description: "Find the language, the build and the service's port"},
		{Title: "Write the change", Description: "Make the change the prompt asks for"},
		{Title: "Build and test", Description: "Run the build and the tests"},
		{Title: "Submit", Description: "Commit the change with a descriptive message"},
	}
	for i := range steps {
		steps[i].ID = fmt.Sprintf("%s-step-%d", st.planID, i)
		steps[i].Index = i
	}
	s.add(st, activity{Originator: "agent", Description: "Plan generated",
		PlanGenerated: &planGenerated{Plan: plan{ID: st.planID, Steps: steps, CreateTime: s.stamp()}}})
	if st.approval {
		s.setState(st, "AWAITING_PLAN_APPROVAL")
		return
	}
	s.add(st, activity{Originator: "system", Description: "Plan approved automatically", PlanApproved: &planApproved{PlanID: st.planID}})
	s.setState(st, "IN_PROGRESS")
}

func (s *Server) complete(st *sessionState) {
	patch := s.patchFor(st)
	s.add(st, activity{Originator: "agent", Description: "Code changes ready",
		ProgressUpdated: &progressUpdated{Title: "Prepared the change"},
		Artifacts: []artifact{{ChangeSet: &changeSet{Source: st.src.name(), GitPatch: gitPatch{
			UnidiffPatch: patch, BaseCommitID: blobID(st.s.ID)[:40], SuggestedCommitMessage: "Add container build, Kubernetes manifests and CI\n\nProposed by Jules.",
		}}}}})
	s.add(st, activity{Originator: "system", Description: "Session completed", SessionCompleted: &struct{}{}})
	if st.autoPR {
		st.s.Outputs = []output{{PullRequest: &pullRequest{
			URL:         fmt.Sprintf("https://github.com/%s/%s/pull/%d", st.src.Owner, st.src.Repo, 100+len(s.order)),
			Title:       st.s.Title,
			Description: "Proposed by Jules for session " + st.s.ID,
		}}}
	}
	s.setState(st, "COMPLETED")
}

func (s *Server) patchFor(st *sessionState) string {
	if s.opts.PatchFor != nil {
		return s.opts.PatchFor(st.s.Prompt, st.src)
	}
	if strings.Contains(strings.ToLower(st.s.Prompt), "dockerfile") {
		return OnboardingPatch(st.src.Owner, st.src.Repo)
	}
	return CodeFixPatch()
}

func (s *Server) stamp() string { return s.now.UTC().Format(time.RFC3339Nano) }

func (s *Server) setState(st *sessionState, state string) {
	st.s.State = state
	st.s.UpdateTime = s.stamp()
}

func (s *Server) add(st *sessionState, a activity) {
	a.ID = fmt.Sprintf("a%s%04d", st.s.ID, len(st.activities)+1)
	a.Name = st.s.Name + "/activities/" + a.ID
	a.CreateTime = s.stamp()
	st.activities = append(st.activities, a)
	st.s.UpdateTime = a.CreateTime
}

// serve answers one request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	s.route(rec, r, body)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, Status: rec.status})
	s.mu.Unlock()
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte) {
	path, ok := strings.CutPrefix(r.URL.Path, "/v1alpha/")
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "the API version is v1alpha")
		return
	}
	switch key := r.Header.Get("X-Goog-Api-Key"); {
	case key == s.opts.APIKey:
	case slices.Contains(s.opts.DeniedKeys, key):
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED", "The caller does not have permission: the API key's project has not enabled the Jules API.")
		return
	default:
		writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "The request is missing a valid API key.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.fault(r.Method, path); f != nil {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		status := map[int]string{429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}[f.Status]
		writeError(w, f.Status, status, "injected fault")
		return
	}

	parts := strings.Split(path, "/")
	switch {
	case path == "sources" && r.Method == http.MethodGet:
		s.listSources(w, r)
	case parts[0] == "sources" && len(parts) > 1 && r.Method == http.MethodGet:
		s.getSource(w, path)
	case path == "sessions" && r.Method == http.MethodPost:
		s.createSession(w, body)
	case path == "sessions" && r.Method == http.MethodGet:
		s.listSessions(w, r)
	case parts[0] == "sessions" && len(parts) == 2:
		id, verb, _ := strings.Cut(parts[1], ":")
		st, ok := s.sessions[id]
		if !ok {
			writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("Requested entity was not found: sessions/%s.", id))
			return
		}
		switch {
		case verb == "" && r.Method == http.MethodGet:
			writeJSON(w, st.s)
		case verb == "approvePlan" && r.Method == http.MethodPost:
			s.approvePlan(w, st, body)
		case verb == "sendMessage" && r.Method == http.MethodPost:
			s.sendMessage(w, st, body)
		default:
			writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("no method %s %s", r.Method, path))
		}
	case parts[0] == "sessions" && len(parts) >= 3 && parts[2] == "activities" && r.Method == http.MethodGet:
		st, ok := s.sessions[parts[1]]
		if !ok {
			writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("Requested entity was not found: sessions/%s.", parts[1]))
			return
		}
		switch len(parts) {
		case 3:
			s.listActivities(w, r, st)
		case 4:
			for _, a := range st.activities {
				if a.ID == parts[3] {
					writeJSON(w, a)
					return
				}
			}
			writeError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found: "+path+".")
		default:
			writeError(w, http.StatusNotFound, "NOT_FOUND", "no such resource "+path)
		}
	default:
		writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("no method %s %s", r.Method, path))
	}
}

func (s *Server) fault(method, path string) *Fault {
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == method) && strings.HasPrefix(path, f.PathPrefix) {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

func (s *Server) source(name string) (Source, bool) {
	for _, src := range s.opts.Sources {
		if src.name() == name {
			return src, true
		}
	}
	return Source{}, false
}

func (s *Server) listSources(w http.ResponseWriter, r *http.Request) {
	srcs := s.opts.Sources
	if f := r.URL.Query().Get("filter"); f != "" {
		names, err := parseNameFilter(f)
		if err != nil {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error())
			return
		}
		var kept []Source
		for _, src := range srcs {
			if names[src.name()] {
				kept = append(kept, src)
			}
		}
		srcs = kept
	}
	from, to, next, ok := page(w, r, "sources", len(srcs), 30)
	if !ok {
		return
	}
	out := struct {
		Sources       []sourceJSON `json:"sources,omitempty"`
		NextPageToken string       `json:"nextPageToken,omitempty"`
	}{NextPageToken: next}
	for _, src := range srcs[from:to] {
		out.Sources = append(out.Sources, src.json())
	}
	writeJSON(w, out)
}

// parseNameFilter reads the AIP-160 filter sources.list supports: name=X [OR name=Y ...].
func parseNameFilter(f string) (map[string]bool, error) {
	names := map[string]bool{}
	for term := range strings.SplitSeq(f, " OR ") {
		n, ok := strings.CutPrefix(strings.TrimSpace(term), "name=")
		if !ok || n == "" {
			return nil, fmt.Errorf("invalid filter %q: only name=sources/... terms joined by OR are supported", f)
		}
		names[strings.Trim(n, `"`)] = true
	}
	return names, nil
}

func (s *Server) getSource(w http.ResponseWriter, name string) {
	src, ok := s.source(name)
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found: "+name+".")
		return
	}
	writeJSON(w, src.json())
}

func (s *Server) createSession(w http.ResponseWriter, body []byte) {
	var in session
	if err := decodeStrict(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error())
		return
	}
	if strings.TrimSpace(in.Prompt) == "" {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "prompt is required")
		return
	}
	if in.SourceContext == nil || in.SourceContext.Source == "" {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "source_context.source is required")
		return
	}
	src, ok := s.source(in.SourceContext.Source)
	if !ok {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("source %q is not connected to Jules", in.SourceContext.Source))
		return
	}
	if g := in.SourceContext.GitHubRepoContext; g != nil && g.StartingBranch != "" {
		found := false
		for _, b := range src.branches() {
			found = found || b == g.StartingBranch
		}
		if !found {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("branch %q does not exist in %s", g.StartingBranch, src.name()))
			return
		}
	}
	switch in.AutomationMode {
	case "", "AUTOMATION_MODE_UNSPECIFIED", "AUTO_CREATE_PR":
	default:
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("Invalid value at 'session.automation_mode': %q", in.AutomationMode))
		return
	}
	id := strconv.Itoa(1000000 + s.nextID)
	s.nextID++
	title := in.Title
	if title == "" {
		title = in.Prompt
		if len(title) > 60 {
			title = title[:60]
		}
	}
	st := &sessionState{
		s: session{Name: "sessions/" + id, ID: id, Prompt: in.Prompt, SourceContext: in.SourceContext, Title: title,
			CreateTime: s.stamp(), UpdateTime: s.stamp(), State: "QUEUED", URL: "https://jules.google.com/session/" + id},
		src: src, approval: in.RequirePlanApproval, autoPR: in.AutomationMode == "AUTO_CREATE_PR",
	}
	if s.opts.ScenarioFor != nil {
		st.scenario = s.opts.ScenarioFor(in.Prompt)
	}
	s.sessions[id] = st
	s.order = append(s.order, id)
	writeJSON(w, st.s)
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	from, to, next, ok := page(w, r, "sessions", len(s.order), 30)
	if !ok {
		return
	}
	out := struct {
		Sessions      []session `json:"sessions,omitempty"`
		NextPageToken string    `json:"nextPageToken,omitempty"`
	}{NextPageToken: next}
	for i := from; i < to; i++ { // newest first
		out.Sessions = append(out.Sessions, s.sessions[s.order[len(s.order)-1-i]].s)
	}
	writeJSON(w, out)
}

func (s *Server) approvePlan(w http.ResponseWriter, st *sessionState, body []byte) {
	if err := decodeStrict(body, &struct{}{}); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error())
		return
	}
	if st.s.State != "AWAITING_PLAN_APPROVAL" {
		writeError(w, http.StatusBadRequest, "FAILED_PRECONDITION", fmt.Sprintf("session %s has no plan awaiting approval (state %s)", st.s.ID, st.s.State))
		return
	}
	s.now = s.now.Add(time.Second)
	s.add(st, activity{Originator: "user", Description: "Plan approved", PlanApproved: &planApproved{PlanID: st.planID}})
	s.setState(st, "IN_PROGRESS")
	writeJSON(w, struct{}{})
}

func (s *Server) sendMessage(w http.ResponseWriter, st *sessionState, body []byte) {
	var in sendMessageBody
	if err := decodeStrict(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error())
		return
	}
	if strings.TrimSpace(in.Prompt) == "" {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "prompt is required")
		return
	}
	if st.s.State == "COMPLETED" || st.s.State == "FAILED" {
		writeError(w, http.StatusBadRequest, "FAILED_PRECONDITION", fmt.Sprintf("session %s is %s", st.s.ID, st.s.State))
		return
	}
	s.now = s.now.Add(time.Second)
	s.add(st, activity{Originator: "user", Description: "User message", UserMessaged: &userMessaged{UserMessage: in.Prompt}})
	if st.s.State == "AWAITING_USER_FEEDBACK" {
		s.setState(st, "PLANNING")
	}
	writeJSON(w, struct{}{})
}

func (s *Server) listActivities(w http.ResponseWriter, r *http.Request, st *sessionState) {
	from, to, next, ok := page(w, r, "activities:"+st.s.ID, len(st.activities), 50)
	if !ok {
		return
	}
	out := struct {
		Activities    []activity `json:"activities,omitempty"`
		NextPageToken string     `json:"nextPageToken,omitempty"`
	}{Activities: st.activities[from:to], NextPageToken: next}
	writeJSON(w, out)
}

// page reads pageSize and pageToken for a collection of n items and returns the slice bounds
// and the next page's token. A token is bound to its collection; the items are append-only,
// so a token stays valid as the collection grows.
func page(w http.ResponseWriter, r *http.Request, collection string, n, defaultSize int) (from, to int, next string, ok bool) {
	q := r.URL.Query()
	size := defaultSize
	if v := q.Get("pageSize"); v != "" {
		var err error
		if size, err = strconv.Atoi(v); err != nil || size < 0 {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("Invalid value at 'page_size' (TYPE_INT32), %q", v))
			return 0, 0, "", false
		}
		if size == 0 {
			size = defaultSize
		}
		size = min(size, 100)
	}
	if tok := q.Get("pageToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		c, off, found := strings.Cut(string(raw), "@")
		from, err2 := strconv.Atoi(off)
		if err != nil || !found || c != collection || err2 != nil || from < 0 || from > n {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "page_token is invalid")
			return 0, 0, "", false
		}
		to = min(from+size, n)
		if to < n {
			next = token(collection, to)
		}
		return from, to, next, true
	}
	to = min(size, n)
	if to < n {
		next = token(collection, to)
	}
	return 0, to, next, true
}

func token(collection string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(collection + "@" + strconv.Itoa(offset)))
}

// decodeStrict decodes a JSON body the way Google's front ends do: unknown fields are refused.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("Invalid JSON payload received. %v", err) //nolint:staticcheck // Google's wording
	}
	if dec.More() {
		return errors.New("Invalid JSON payload received. Unexpected data after the object.") //nolint:staticcheck // Google's wording
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(apiError{Error: apiErrorBody{Code: code, Message: msg, Status: status}})
}
