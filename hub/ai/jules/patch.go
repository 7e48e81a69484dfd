package jules

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// PatchFile is one file a unified diff changes.
type PatchFile struct {
	// Path is the file's path after the change; OldPath before it. The one that does not
	// exist is empty (a created or deleted file).
	Path, OldPath string
	// Created and Deleted say the change creates or deletes the file.
	Created, Deleted bool
	// Binary is true for a binary change, whose content the patch does not carry.
	Binary bool
	// Content is the file's whole content for a created file; for others, the added lines only.
	Content string
}

// ParsePatch reads a unified diff, in git's form or plain. A hunk whose line counts do not
// match its header (a truncated patch) is an error.
func ParsePatch(unidiff string) ([]PatchFile, error) {
	var (
		files      []PatchFile
		cur        *PatchFile
		headerDone bool // the current file's +++ line was read
		body       strings.Builder
	)
	flush := func() {
		if cur != nil {
			cur.Content = body.String()
			files = append(files, *cur)
		}
		cur, headerDone = nil, false
		body.Reset()
	}
	lines := strings.SplitAfter(unidiff, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		text := strings.TrimRight(line, "\r\n")
		switch {
		case text == "":
			continue
		case strings.HasPrefix(text, "diff --git "):
			flush()
			cur = &PatchFile{}
			a, b, err := gitDiffPaths(strings.TrimPrefix(text, "diff --git "))
			if err != nil {
				return nil, fmt.Errorf("patch line %d: %w", i+1, err)
			}
			cur.OldPath, cur.Path = a, b
		case strings.HasPrefix(text, "--- "):
			if cur == nil || headerDone {
				flush()
				cur = &PatchFile{}
			}
			p, err := diffPath(strings.TrimPrefix(text, "--- "), "a/")
			if err != nil {
				return nil, fmt.Errorf("patch line %d: %w", i+1, err)
			}
			cur.OldPath = p
			if p == "" {
				cur.Created = true
			}
		case strings.HasPrefix(text, "+++ ") && cur != nil:
			p, err := diffPath(strings.TrimPrefix(text, "+++ "), "b/")
			if err != nil {
				return nil, fmt.Errorf("patch line %d: %w", i+1, err)
			}
			cur.Path, headerDone = p, true
			if p == "" {
				cur.Deleted = true
			}
		case strings.HasPrefix(text, "new file mode") && cur != nil:
			cur.Created = true
		case strings.HasPrefix(text, "deleted file mode") && cur != nil:
			cur.Deleted = true
		case strings.HasPrefix(text, "Binary files ") || text == "GIT binary patch":
			if cur != nil {
				cur.Binary = true
			}
		case strings.HasPrefix(text, "@@ "):
			if cur == nil {
				return nil, fmt.Errorf("patch line %d: a hunk before any file header", i+1)
			}
			oldN, newN, err := hunkCounts(text)
			if err != nil {
				return nil, fmt.Errorf("patch line %d: %w", i+1, err)
			}
			for oldN > 0 || newN > 0 {
				i++
				if i >= len(lines) {
					return nil, fmt.Errorf("%s: the patch ends inside a hunk (truncated?)", cur.name())
				}
				l := lines[i]
				if l == "" {
					return nil, fmt.Errorf("%s: the patch ends inside a hunk (truncated?)", cur.name())
				}
				if l == "\n" || l == "\r\n" {
					l = " \n" // some tools drop the space of an empty context line
				}
				switch l[0] {
				case ' ':
					oldN--
					newN--
				case '-':
					oldN--
				case '+':
					newN--
					body.WriteString(l[1:])
				case '\\':
					continue
				default:
					return nil, fmt.Errorf("%s: line %d in a hunk starts with %q (truncated or corrupt hunk)", cur.name(), i+1, l[:1])
				}
				if oldN < 0 || newN < 0 {
					return nil, fmt.Errorf("%s: line %d: the hunk is longer than its header says", cur.name(), i+1)
				}
			}
			// A "no newline at end of file" marker after the hunk's last line.
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], `\ `) {
				i++
				if strings.HasPrefix(lines[i-1], "+") {
					s := body.String()
					body.Reset()
					body.WriteString(strings.TrimSuffix(s, "\n"))
				}
			}
		case text == "-- ":
			// format-patch's signature: the rest is not the diff.
			i = len(lines)
		case headerDone && (text[0] == '+' || text[0] == '-' || text[0] == ' '):
			return nil, fmt.Errorf("%s: line %d is a change outside any hunk (the hunk is longer than its header says?)", cur.name(), i+1)
		default:
			// index, mode, rename and similarity lines, and text around the diff: nothing to keep.
		}
	}
	flush()
	for _, f := range files {
		if f.Path == "" && f.OldPath == "" {
			return nil, errors.New("patch: a file header names no path")
		}
	}
	return files, nil
}

func (f *PatchFile) name() string {
	if f.Path != "" {
		return f.Path
	}
	return f.OldPath
}

// gitDiffPaths splits "a/x b/y" from a diff --git line.
func gitDiffPaths(s string) (string, string, error) {
	if strings.HasPrefix(s, `"`) {
		a, rest, err := unquotePrefix(s)
		if err != nil {
			return "", "", err
		}
		b, err := diffPath(strings.TrimSpace(rest), "b/")
		return strings.TrimPrefix(a, "a/"), b, err
	}
	// Unquoted paths hold no spaces' ambiguity when a and b are the same file, the usual case.
	if i := strings.Index(s, " b/"); strings.HasPrefix(s, "a/") && i > 0 {
		return s[2:i], s[i+3:], nil
	}
	return "", "", fmt.Errorf("cannot read the paths of %q", "diff --git "+s)
}

// diffPath reads the path of a ---/+++ line: "" for /dev/null, else without its a/ or b/ prefix
// and any tab-separated timestamp.
func diffPath(s, prefix string) (string, error) {
	if i := strings.IndexByte(s, '\t'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if s == "/dev/null" {
		return "", nil
	}
	if strings.HasPrefix(s, `"`) {
		var err error
		if s, _, err = unquotePrefix(s); err != nil {
			return "", err
		}
	}
	s = strings.TrimPrefix(s, prefix)
	if s == "" {
		return "", errors.New("empty path in a file header")
	}
	return s, nil
}

func unquotePrefix(s string) (string, string, error) {
	for i := 1; i < len(s); i++ {
		if s[i] == '"' && s[i-1] != '\\' {
			u, err := strconv.Unquote(s[:i+1])
			return u, s[i+1:], err
		}
	}
	return "", "", fmt.Errorf("unterminated quoted path in %q", s)
}

// hunkCounts reads the line counts of "@@ -a[,b] +c[,d] @@".
func hunkCounts(h string) (oldN, newN int, err error) {
	f := strings.Fields(h)
	if len(f) < 4 || f[0] != "@@" || f[3] != "@@" || !strings.HasPrefix(f[1], "-") || !strings.HasPrefix(f[2], "+") {
		return 0, 0, fmt.Errorf("malformed hunk header %q", h)
	}
	count := func(r string) (int, error) {
		start, n, found := strings.Cut(r[1:], ",")
		if v, err := strconv.Atoi(start); err != nil || v < 0 {
			return 0, fmt.Errorf("malformed hunk header %q", h)
		}
		if !found {
			return 1, nil
		}
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("malformed hunk header %q", h)
		}
		return v, nil
	}
	if oldN, err = count(f[1]); err != nil {
		return 0, 0, err
	}
	newN, err = count(f[2])
	return oldN, newN, err
}

// Manifest is one Kubernetes object a patch adds.
type Manifest struct {
	// Path is the file it is in; Index its position among the file's documents, from 0.
	Path  string
	Index int
	// APIVersion, Kind, Name and Namespace identify the object.
	APIVersion, Kind, Name, Namespace string
	// YAML is the document.
	YAML []byte
}

// ManifestsFromPatch returns the Kubernetes objects in the YAML files a patch creates: every
// document of a created .yaml or .yml file that has an apiVersion and a kind. Documents without
// them (a CI workflow, say) are not objects and are left out. Changed YAML files whose whole
// content the patch does not carry are listed in partial. A YAML file that does not parse, or
// an object without a name, is an error.
func ManifestsFromPatch(unidiff string) (manifests []Manifest, partial []string, err error) {
	files, err := ParsePatch(unidiff)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		ext := strings.ToLower(path.Ext(f.Path))
		if f.Deleted || f.Binary || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		if !f.Created {
			partial = append(partial, f.Path)
			continue
		}
		docs, err := splitYAML(f.Content)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		for i, doc := range docs {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"metadata"`
			}
			var generic any
			if err := yaml.Unmarshal(doc, &generic); err != nil {
				return nil, nil, fmt.Errorf("%s document %d: %w", f.Path, i, err)
			}
			if _, isMap := generic.(map[string]any); !isMap {
				continue
			}
			if err := yaml.Unmarshal(doc, &head); err != nil {
				return nil, nil, fmt.Errorf("%s document %d: %w", f.Path, i, err)
			}
			if head.APIVersion == "" || head.Kind == "" {
				continue
			}
			if head.Metadata.Name == "" {
				return nil, nil, fmt.Errorf("%s document %d: %s %s has no metadata.name", f.Path, i, head.APIVersion, head.Kind)
			}
			manifests = append(manifests, Manifest{Path: f.Path, Index: i, APIVersion: head.APIVersion, Kind: head.Kind,
				Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, YAML: doc})
		}
	}
	return manifests, partial, nil
}

// splitYAML returns the non-empty documents of a YAML stream.
func splitYAML(s string) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(s)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for l := range bytes.SplitSeq(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			out.Write(l)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}
