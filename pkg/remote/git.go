package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// GitFile returns file (a slash path inside the repository, "" meaning "Dockerfile") from the
// git repository at repoURL at revision (a branch, a tag or a commit hash; "" means the
// remote's default branch) — devfile spec 2.2.0, dockerfile.git (checkoutFrom.revision,
// fileLocation). Branches and tags are cloned shallowly (depth 1, one branch) with go-git into a
// temporary directory that is removed before GitFile returns; a commit hash needs a full clone.
// Online the file is cached under repoURL+revision+file; offline only that copy is read.
// The clone is bounded by ctx and 6× the client's Timeout.
//
// Errors: *Error naming the repository (unreachable, no such revision or file, file too large,
// offline cache miss); a cancelled ctx returns ctx's error.
func (c *Client) GitFile(ctx context.Context, repoURL, revision, file string) ([]byte, error) {
	if file == "" {
		file = "Dockerfile"
	}
	what := fmt.Sprintf("git repository %s", repoURL)
	if revision != "" {
		what += " at " + revision
	}
	key := "git\x00" + repoURL + "\x00" + revision + "\x00" + file
	if c.opts.Offline {
		b, err := c.readCache(key)
		if err != nil {
			return nil, &Error{What: what, URL: repoURL, Err: err, Offline: true}
		}
		return b, nil
	}
	rel := filepath.Clean(filepath.FromSlash(file))
	if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, &Error{What: what, URL: repoURL, Err: fmt.Errorf("fileLocation %q leaves the repository", file)}
	}
	tmp, err := os.MkdirTemp("", "devtool-git-")
	if err != nil {
		return nil, &Error{What: what, URL: repoURL, Err: err}
	}
	defer os.RemoveAll(tmp)
	cctx, cancel := context.WithTimeout(ctx, 6*c.opts.Timeout)
	defer cancel()
	if err := clone(cctx, tmp, repoURL, revision); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if cctx.Err() != nil {
			err = &TimeoutError{6 * c.opts.Timeout}
		}
		return nil, &Error{What: what, URL: repoURL, Err: err}
	}
	p := filepath.Join(tmp, rel)
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		return nil, &Error{What: what, URL: repoURL, Err: fmt.Errorf("no file %s in the repository", file)}
	}
	if st.Size() > c.opts.MaxSize {
		return nil, &Error{What: what, URL: repoURL, Err: &SizeError{c.opts.MaxSize}}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, &Error{What: what, URL: repoURL, Err: err}
	}
	if err := c.writeCache(key, b); err != nil {
		c.opts.Logger.Debug("cannot write cache", "repo", repoURL, "err", err)
	}
	return b, nil
}

// clone checks out revision of repoURL into dir: as a branch, then as a tag, shallowly; else a
// full clone and a checkout of the hash.
func clone(ctx context.Context, dir, repoURL, revision string) error {
	if revision == "" {
		_, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: repoURL, Depth: 1, SingleBranch: true})
		return err
	}
	var firstErr error
	for _, ref := range []plumbing.ReferenceName{plumbing.NewBranchReferenceName(revision), plumbing.NewTagReferenceName(revision)} {
		_, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: repoURL, Depth: 1, SingleBranch: true, ReferenceName: ref})
		if err == nil {
			return nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil || !isRefMissing(err) {
			return err
		}
		if err := emptyDir(dir); err != nil {
			return err
		}
	}
	if !plumbing.IsHash(revision) {
		return fmt.Errorf("no branch or tag %q (and it is not a commit hash): %w", revision, firstErr)
	}
	repo, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: repoURL, NoCheckout: true})
	if err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: plumbing.NewHash(revision)}); err != nil {
		return fmt.Errorf("checking out %s: %w", revision, err)
	}
	return nil
}

func isRefMissing(err error) bool {
	var nm git.NoMatchingRefSpecError
	return errors.As(err, &nm) || errors.Is(err, plumbing.ErrReferenceNotFound) ||
		strings.Contains(err.Error(), "couldn't find remote ref") || strings.Contains(err.Error(), "reference not found")
}

func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
