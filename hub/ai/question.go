package ai

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MaxQuestionBytes bounds a question's length.
const MaxQuestionBytes = 1024

// QuestionForm is one question the built-in engine can answer.
type QuestionForm string

// The question forms.
const (
	// FormWhyPlan: "why did plan P ..." — the plan's rationale, engine, decisions and outcome.
	FormWhyPlan QuestionForm = "why-plan"
	// FormClusterProblems: "what is wrong with cluster C" — the cluster's unresolved incidents.
	FormClusterProblems QuestionForm = "cluster-problems"
	// FormImageClusters: "which clusters run image I" — the clusters and workloads running it.
	FormImageClusters QuestionForm = "image-clusters"
	// FormSignatureLearned: "what did the fleet learn about signature S" — the track record of
	// each remediation tried against it.
	FormSignatureLearned QuestionForm = "signature-learned"
)

// ErrUnknownQuestion is returned for a question that matches none of the forms; its message
// lists those that do.
var ErrUnknownQuestion = errors.New("unknown question form")

// Question is a question recognised as one of the forms, with its subject (a plan, cluster,
// image or signature) and, for FormWhyPlan, the rest of the question.
type Question struct {
	Form    QuestionForm `json:"form"`
	Subject string       `json:"subject"`
	Rest    string       `json:"rest,omitempty"`
}

type questionPattern struct {
	form    QuestionForm
	example string
	re      *regexp.Regexp
}

// Names of Kubernetes objects, images and signatures as questions may write them.
const (
	nameRe      = `([a-z0-9]([-a-z0-9.]*[a-z0-9])?)`
	imageRe     = `([A-Za-z0-9][A-Za-z0-9._/:@+-]*)`
	signatureRe = `([A-Za-z0-9][A-Za-z0-9._/:+-]*)`
)

func questionPatterns() []questionPattern {
	return []questionPattern{
		{FormWhyPlan, "why did plan PLAN ...?",
			regexp.MustCompile(`(?i)^why\s+(?:(?:did|was|is|does|has|would|were)\s+)?(?:the\s+)?plan\s+` + nameRe + `(?:\s+(.*?))?\s*\??$`)},
		{FormClusterProblems, "what is wrong with cluster CLUSTER?",
			regexp.MustCompile(`(?i)^what(?:'s|\s+is)\s+(?:wrong|going\s+on|happening)\s+(?:with|in|on)\s+(?:the\s+)?cluster\s+` + nameRe + `\s*\??$`)},
		{FormImageClusters, "which clusters run image IMAGE?",
			regexp.MustCompile(`(?i)^(?:which|what)\s+clusters\s+(?:run|use|are\s+running|are\s+using)\s+(?:the\s+)?image\s+` + imageRe + `\s*\??$`)},
		{FormSignatureLearned, "what did the fleet learn about signature SIGNATURE?",
			regexp.MustCompile(`(?i)^what\s+(?:did|has)\s+the\s+fleet\s+learn(?:ed|t)?\s+about\s+(?:the\s+)?(?:signature\s+)?` + signatureRe + `\s*\??$`)},
	}
}

// QuestionExamples lists the forms as people may ask them, in a stable order.
func QuestionExamples() []string {
	var out []string
	for _, p := range questionPatterns() {
		out = append(out, p.example)
	}
	return out
}

// ParseQuestion recognises a question. An unknown form is an error wrapping ErrUnknownQuestion
// that says which forms there are.
func ParseQuestion(text string) (Question, error) {
	q := strings.Join(strings.Fields(text), " ")
	for _, p := range questionPatterns() {
		m := p.re.FindStringSubmatch(q)
		if m == nil {
			continue
		}
		out := Question{Form: p.form, Subject: m[1]}
		if p.form == FormWhyPlan {
			out.Subject = strings.ToLower(out.Subject)
			out.Rest = strings.TrimSpace(m[3])
		}
		if p.form == FormClusterProblems {
			out.Subject = strings.ToLower(out.Subject)
		}
		return out, nil
	}
	return Question{}, fmt.Errorf("%w: %q; I can answer: %s", ErrUnknownQuestion, clip(q, 120), strings.Join(QuestionExamples(), "; "))
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
