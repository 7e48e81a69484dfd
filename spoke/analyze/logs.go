package analyze

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// ClientsetLogs reads container logs through the apiserver (which asks the kubelet).
type ClientsetLogs struct {
	Client kubernetes.Interface
	// LimitBytes caps what one request reads; default 64 KiB.
	LimitBytes int64
}

// NewLogSource returns the LogSource of the agent: logs read through the apiserver.
func NewLogSource(cs kubernetes.Interface) *ClientsetLogs { return &ClientsetLogs{Client: cs} }

// TailLogs implements LogSource.
func (l *ClientsetLogs) TailLogs(ctx context.Context, namespace, pod, container string, previous bool, lines int64) ([]string, error) {
	limit := l.LimitBytes
	if limit <= 0 {
		limit = 64 << 10
	}
	req := l.Client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: previous, TailLines: &lines, LimitBytes: &limit,
	})
	rc, err := req.Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("logs of container %q of pod %s/%s: %w", container, namespace, pod, err)
	}
	defer func() { _ = rc.Close() }()
	var out []string
	sc := bufio.NewScanner(io.LimitReader(rc, limit))
	sc.Buffer(make([]byte, 0, 4096), int(limit))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read logs of container %q of pod %s/%s: %w", container, namespace, pod, err)
	}
	if int64(len(out)) > lines {
		out = out[int64(len(out))-lines:]
	}
	return out, nil
}

// logEvidence is the tail of one container's log, redacted; when the log cannot be read the
// evidence says why instead.
func logEvidence(ctx context.Context, in Input, pod *corev1.Pod, container string, previous bool) *fleetv1.Evidence {
	which := "current"
	if previous {
		which = "previous"
	}
	ev := &fleetv1.Evidence{Type: EvidenceLog, ObservedAt: timestamppb.New(in.now()), Source: ref(gvkPod, pod)}
	if in.Logs == nil {
		ev.Summary = fmt.Sprintf("logs unavailable: container %s (%s)", container, which)
		ev.Detail = "no log source configured"
		return ev
	}
	lines, err := in.prevLogs.tail(ctx, in.Logs, pod, container, previous)
	if err != nil && len(lines) == 0 {
		ev.Summary = fmt.Sprintf("logs unavailable: container %s (%s)", container, which)
		ev.Detail = truncate(Redact(err.Error()))
		return ev
	}
	for i, l := range lines {
		if len(l) > maxLogLineSize {
			l = l[:maxLogLineSize] + "…"
		}
		lines[i] = Redact(l)
	}
	ev.Summary = fmt.Sprintf("last %d log lines: container %s (%s)", len(lines), container, which)
	ev.Detail = tailTruncate(strings.Join(lines, "\n"))
	return ev
}

// tailTruncate keeps the end of a log excerpt, where the error usually is.
func tailTruncate(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	return "…" + s[len(s)-maxDetail:]
}

// redactions: each keeps the key or scheme and replaces the secret part.
var redactions = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`), "[REDACTED PRIVATE KEY]"},
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*`), "$1 [REDACTED]"},
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`), "[REDACTED JWT]"},
	{regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`), "[REDACTED AWS KEY]"},
	{regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{30,})`), "[REDACTED TOKEN]"},
	{regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s@]+:)[^@\s/]+@`), "$1[REDACTED]@"},
	{regexp.MustCompile(`(?i)((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth)[A-Za-z0-9_-]*["']?\s*[:=]\s*["']?)([^\s\["',;&]+)`), "${1}[REDACTED]"},
}

// Redact removes secrets and tokens from a line of log or message text.
func Redact(s string) string {
	for _, r := range redactions {
		s = r.re.ReplaceAllStringFunc(s, func(m string) string {
			sub := r.re.FindStringSubmatch(m)
			// "Authorization: Bearer [REDACTED]": the scheme word is no secret, what follows it
			// was redacted already.
			if len(sub) == 3 && (strings.EqualFold(sub[2], "bearer") || strings.EqualFold(sub[2], "basic")) {
				return m
			}
			return r.re.ReplaceAllString(m, r.repl)
		})
	}
	return s
}

// sensitiveName says whether an env var's name suggests its literal value is a secret.
var sensitiveName = regexp.MustCompile(`(?i)(password|passwd|secret|token|api_?key|access_?key|private_?key|credential|auth)`)

// previousLogs keeps, for one Runner, the tails of terminated containers' logs it read: a
// previous container's log does not change until the container restarts again, so a crash
// loop costs one log read per restart instead of one per cycle. Entries not used in a cycle
// are dropped at its end, so it holds at most one entry per failing container.
type previousLogs struct {
	mu      sync.Mutex
	entries map[prevKey]prevEntry
	used    map[prevKey]bool
}

type prevKey struct {
	uid, container string
	restarts       int32
}

type prevEntry struct {
	lines []string
	err   error
}

func newPreviousLogs() *previousLogs {
	return &previousLogs{entries: map[prevKey]prevEntry{}, used: map[prevKey]bool{}}
}

// tail reads through the cache for previous logs; current logs, and every read without a
// Runner (nil cache), go to the source.
func (c *previousLogs) tail(ctx context.Context, src LogSource, pod *corev1.Pod, container string, previous bool) ([]string, error) {
	if c == nil || !previous {
		return src.TailLogs(ctx, pod.Namespace, pod.Name, container, previous, logTailLines)
	}
	k := prevKey{uid: string(pod.UID), container: container, restarts: -1}
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if cs.Name == container {
			k.restarts = cs.RestartCount
		}
	}
	c.mu.Lock()
	e, ok := c.entries[k]
	c.used[k] = true
	c.mu.Unlock()
	if ok {
		return append([]string(nil), e.lines...), e.err
	}
	lines, err := src.TailLogs(ctx, pod.Namespace, pod.Name, container, previous, logTailLines)
	if err == nil { // a failed read is tried again next cycle
		c.mu.Lock()
		c.entries[k] = prevEntry{lines: append([]string(nil), lines...)}
		c.mu.Unlock()
	}
	return lines, err
}

// endCycle forgets the entries the cycle did not use.
func (c *previousLogs) endCycle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if !c.used[k] {
			delete(c.entries, k)
		}
	}
	c.used = map[prevKey]bool{}
}
