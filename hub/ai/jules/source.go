package jules

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// FindSource returns the Jules source of a GitHub repository given by its clone URL
// (https://github.com/owner/repo[.git], ssh://git@github.com/owner/repo or
// git@github.com:owner/repo.git), as a ManagedApplication's source.git.url names it. The error
// wraps ErrNotFound when the repository is not connected to Jules.
func (c *Client) FindSource(ctx context.Context, repoURL string) (*Source, error) {
	owner, repo, err := GitHubRepository(repoURL)
	if err != nil {
		return nil, err
	}
	all, err := c.AllSources(ctx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		g := all[i].GitHubRepo
		if g != nil && strings.EqualFold(g.Owner, owner) && strings.EqualFold(g.Repo, repo) {
			return &all[i], nil
		}
	}
	return nil, fmt.Errorf("repository %s/%s: %w: connect it to Jules (install the Jules GitHub app on it) first", owner, repo, ErrNotFound)
}

// GitHubRepository returns the owner and name of a GitHub repository from its clone URL.
func GitHubRepository(repoURL string) (owner, repo string, err error) {
	var host, path string
	switch {
	case strings.HasPrefix(repoURL, "https://"), strings.HasPrefix(repoURL, "ssh://"):
		u, perr := url.Parse(repoURL)
		if perr != nil {
			return "", "", fmt.Errorf("repository URL %q: %w", repoURL, perr)
		}
		host, path = u.Hostname(), u.Path
	case strings.Contains(repoURL, "@") && strings.Contains(repoURL, ":"):
		at := strings.Index(repoURL, "@")
		host, path, _ = strings.Cut(repoURL[at+1:], ":")
	default:
		return "", "", fmt.Errorf("repository URL %q is not an https, ssh or scp-like Git URL", repoURL)
	}
	if !strings.EqualFold(host, "github.com") {
		return "", "", fmt.Errorf("repository %q is on %s: Jules works on GitHub repositories only", repoURL, host)
	}
	parts := strings.Split(strings.Trim(strings.TrimSuffix(path, ".git"), "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", fmt.Errorf("repository URL %q does not name a GitHub owner/repository", repoURL)
	}
	return parts[0], parts[1], nil
}

// StartingBranch is the branch a session starts from for a Git revision (a ManagedApplication's
// source.git.revision): none, so the source's default branch, for HEAD or a commit id.
func StartingBranch(rev string) string {
	if rev == "" || rev == "HEAD" || isCommit(rev) {
		return ""
	}
	return rev
}

func isCommit(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}
