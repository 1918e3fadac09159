package native

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildContext is the build context directory with its .dockerignore rules.
type buildContext struct {
	dir    string // absolute, symlinks evaluated
	ignore *patternmatcher.PatternMatcher
}

// loadContext opens the build context dir. The ignore file is "<Dockerfile>.dockerignore" next
// to the Dockerfile when it exists (buildkit's per-Dockerfile ignore file), else
// "<dir>/.dockerignore"; its patterns follow docker's rules (patternmatcher, "!" exceptions,
// the last matching pattern wins). The Dockerfile itself is read from its path whatever the
// ignore file says.
func loadContext(dir, dockerfile string) (*buildContext, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory", dir)
	}
	c := &buildContext{dir: real}
	candidates := []string{filepath.Join(real, ".dockerignore")}
	if dockerfile != "" {
		candidates = append([]string{dockerfile + ".dockerignore"}, candidates...)
	}
	for _, p := range candidates {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		if len(patterns) > 0 {
			pm, err := patternmatcher.New(patterns)
			if err != nil {
				return nil, fmt.Errorf("parsing %s: %w", p, err)
			}
			c.ignore = pm
		}
		break
	}
	return c, nil
}

// excluded reports whether rel (slash-separated, relative to the context root) is excluded by
// .dockerignore, taking its parent directories into account.
func (c *buildContext) excluded(rel string) (bool, error) {
	if c.ignore == nil || rel == "" {
		return false, nil
	}
	return c.ignore.MatchesOrParentMatches(rel)
}

// host is the host path of rel.
func (c *buildContext) host(rel string) string {
	return filepath.Join(c.dir, filepath.FromSlash(rel))
}

// source is one COPY/ADD source found in the build context.
type source struct {
	rel     string      // slash-separated, relative to the context root ("" = the root), as named
	realRel string      // rel with symlinks resolved: where the content is, for .dockerignore
	path    string      // host path, symlinks resolved
	info    fs.FileInfo // of path (symlinks followed)
}

// errNotInContext is wrapped when a COPY source is missing or excluded.
var errNotInContext = errors.New("no such file or directory in the build context")

// hasMeta reports whether a source uses wildcards (path.Match syntax).
func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// sources resolves one COPY/ADD source, relative to the context root, to the files it names.
// Sources cannot leave the context ("../x" is "x", as in docker). Wildcards (path.Match
// syntax, one path segment per "*") match entries that .dockerignore keeps; a wildcard that
// matches nothing yields no sources (buildkit's behaviour). A symlink named as a source is
// followed, and must stay inside the context.
func (c *buildContext) sources(ctx context.Context, src string) ([]source, error) {
	rel := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(src)), "/")
	if !hasMeta(rel) {
		s, err := c.stat(rel)
		if err != nil {
			return nil, err
		}
		return []source{s}, nil
	}
	matches := []string{""}
	for _, seg := range splitPath(rel) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var next []string
		for _, m := range matches {
			if !hasMeta(seg) {
				if _, err := os.Lstat(c.host(path.Join(m, seg))); err == nil {
					next = append(next, path.Join(m, seg))
				}
				continue
			}
			ents, err := os.ReadDir(c.host(m))
			if err != nil {
				continue // not a directory: nothing below it matches
			}
			for _, e := range ents {
				ok, err := path.Match(seg, e.Name())
				if err != nil {
					return nil, fmt.Errorf("bad pattern %q: %w", src, err)
				}
				if ok {
					next = append(next, path.Join(m, e.Name()))
				}
			}
		}
		matches = next
	}
	sort.Strings(matches)
	var out []source
	for _, m := range matches {
		ex, err := c.excluded(m)
		if err != nil {
			return nil, err
		}
		if ex {
			continue
		}
		s, err := c.stat(m)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// stat finds rel in the context, following a symlink at rel (but staying inside the context).
func (c *buildContext) stat(rel string) (source, error) {
	ex, err := c.excluded(rel)
	if err != nil {
		return source{}, err
	}
	excludedErr := fmt.Errorf("%w %s (excluded by .dockerignore)", errNotInContext, c.dir)
	if ex && !c.ignore.Exclusions() {
		return source{}, excludedErr
	}
	p := c.host(rel)
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return source{}, fmt.Errorf("%w %s", errNotInContext, c.dir)
	}
	if err != nil {
		return source{}, err
	}
	if real != c.dir && !strings.HasPrefix(real, c.dir+string(filepath.Separator)) {
		return source{}, fmt.Errorf("%s points outside the build context %s", rel, c.dir)
	}
	realRel, err := filepath.Rel(c.dir, real)
	if err != nil {
		return source{}, err
	}
	realRel = filepath.ToSlash(realRel)
	if realRel == "." {
		realRel = ""
	}
	if realRel != rel {
		// Through a symlink: docker sends the link, and the target only if .dockerignore keeps
		// it, so an excluded target is missing from the context, not copied.
		exReal, err := c.excluded(realRel)
		if err != nil {
			return source{}, err
		}
		if exReal && !c.ignore.Exclusions() {
			return source{}, excludedErr
		}
		ex = ex || exReal
	}
	fi, err := os.Stat(real)
	if err != nil {
		return source{}, err
	}
	if ex && !fi.IsDir() {
		// An excluded directory may still hold re-included ("!") files; walk finds them.
		return source{}, excludedErr
	}
	return source{rel: rel, realRel: realRel, path: real, info: fi}, nil
}

// walked is one file found below a directory source.
type walked struct {
	rel  string // relative to the directory source, slash-separated
	path string // host path
	info fs.FileInfo
	link string // symlink target
}

// walk lists the contents of the directory source s that .dockerignore keeps, in lexical
// order, parents before children. A directory that is excluded is still listed when something
// below it is re-included by a "!" pattern (docker keeps the path to it). Symlinks are listed,
// not followed.
func (c *buildContext) walk(ctx context.Context, s source) ([]walked, error) {
	var out []walked
	_, err := c.walkDir(ctx, s.realRel, s.path, "", &out)
	return out, err
}

// walkDir appends dir's kept entries to out and reports whether it appended any.
func (c *buildContext) walkDir(ctx context.Context, ctxRel, hostDir, rel string, out *[]walked) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	ents, err := os.ReadDir(hostDir)
	if err != nil {
		return false, err
	}
	kept := false
	for _, e := range ents {
		name := e.Name()
		crel := path.Join(ctxRel, name)
		wrel := path.Join(rel, name)
		hp := filepath.Join(hostDir, name)
		ex, err := c.excluded(crel)
		if err != nil {
			return false, err
		}
		info, err := os.Lstat(hp)
		if err != nil {
			return false, err
		}
		if info.IsDir() {
			if ex && !c.ignore.Exclusions() {
				continue
			}
			idx := len(*out)
			*out = append(*out, walked{rel: wrel, path: hp, info: info})
			below, err := c.walkDir(ctx, crel, hp, wrel, out)
			if err != nil {
				return false, err
			}
			if ex && !below {
				*out = (*out)[:idx]
				continue
			}
			kept = true
			continue
		}
		if ex {
			continue
		}
		w := walked{rel: wrel, path: hp, info: info}
		if info.Mode()&fs.ModeSymlink != 0 {
			if w.link, err = os.Readlink(hp); err != nil {
				return false, err
			}
		}
		*out = append(*out, w)
		kept = true
	}
	return kept, nil
}
