package run

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// splitImageName splits "host/path/name:tag@digest" into repository and tag (digest dropped:
// a digest in an image component's imageName makes no sense for a build).
func splitImageName(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

// isRelativeImage reports whether an image name has no registry host (devfile spec 2.2.0,
// image component: "relative image names" — odo v3 rewrites those with its image registry
// preference). The first path component names a registry when it contains '.' or ':' or is
// "localhost", the rule docker/distribution uses.
func isRelativeImage(name string) bool {
	first, _, found := strings.Cut(name, "/")
	if !found {
		return true
	}
	return !strings.ContainsAny(first, ".:") && first != "localhost"
}

var nonRepoChars = regexp.MustCompile(`[^a-z0-9._/-]+`)

// qualify rewrites a relative image name to <registry>/<devfileName>-<name> (design.md §3,
// after odo v3's ImageRegistry preference). Absolute names are returned as they are.
func qualify(imageName, registry, devfileName string) (repo, tag string, rewritten bool) {
	repo, tag = splitImageName(imageName)
	if !isRelativeImage(repo) || registry == "" {
		return repo, tag, false
	}
	base := strings.ToLower(strings.ReplaceAll(repo, "/", "-"))
	if devfileName != "" {
		base = strings.ToLower(devfileName) + "-" + base
	}
	base = strings.Trim(nonRepoChars.ReplaceAllString(base, "-"), "-")
	return strings.TrimSuffix(registry, "/") + "/" + base, tag, true
}

// resolveBuildPaths turns an image component's dockerfile uri and buildContext (already
// substituted) into absolute paths, odo v3's rules: both relative to the devfile directory;
// an empty buildContext, ${PROJECTS_ROOT} and ${PROJECT_SOURCE} mean the devfile directory; an
// empty uri means "Dockerfile" in the build context. Unless allowOutside, both must resolve
// (after symlinks) inside the devfile directory: a devfile must not push the host's files in
// an image (*OutsideProjectError).
func resolveBuildPaths(devfileDir, uri, buildContext string, allowOutside bool) (contextDir, dockerfile string, err error) {
	bc := buildContext
	for _, v := range []string{"${PROJECTS_ROOT}", "${PROJECT_SOURCE}", "$PROJECTS_ROOT", "$PROJECT_SOURCE"} {
		bc = strings.ReplaceAll(bc, v, devfileDir)
	}
	if bc == "" {
		bc = devfileDir
	}
	if !filepath.IsAbs(bc) {
		bc = filepath.Join(devfileDir, bc)
	}
	if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
		return "", "", fmt.Errorf("dockerfile uri %q: an http(s) Dockerfile is fetched when the devfile is loaded and was not (internal error); put the Dockerfile in the project and reference it by path", uri)
	}
	df := uri
	switch {
	case df == "":
		df = filepath.Join(bc, "Dockerfile")
	case !filepath.IsAbs(df):
		df = filepath.Join(devfileDir, df)
	}
	if !allowOutside {
		// Lexically first (nothing outside the project is even looked at), after symlinks below.
		if err := lexicallyInside(devfileDir, bc, "dockerfile.buildContext", buildContext); err != nil {
			return "", "", err
		}
		if err := lexicallyInside(devfileDir, df, "dockerfile.uri", uri); err != nil {
			return "", "", err
		}
	}
	st, err := os.Stat(bc)
	if err != nil {
		return "", "", fmt.Errorf("dockerfile buildContext %q: %w; create it or fix `buildContext` (relative paths start at the devfile directory %s)", buildContext, err, devfileDir)
	}
	if !st.IsDir() {
		return "", "", fmt.Errorf("dockerfile buildContext %q: %s is not a directory", buildContext, bc)
	}
	if _, err := os.Stat(df); err != nil {
		written := uri
		if written == "" {
			written = "(default) Dockerfile"
		}
		return "", "", fmt.Errorf("dockerfile uri %q: %w; add the Dockerfile or fix `dockerfile.uri` (relative paths start at the devfile directory %s)", written, err, devfileDir)
	}
	if !allowOutside {
		if err := inside(devfileDir, bc, "dockerfile.buildContext", buildContext); err != nil {
			return "", "", err
		}
		if err := inside(devfileDir, df, "dockerfile.uri", uri); err != nil {
			return "", "", err
		}
	}
	return bc, df, nil
}

// OutsideProjectError is a path in the devfile that resolves outside the project directory
// (after symlinks). --allow-outside-project permits it.
type OutsideProjectError struct {
	// Field is where it was written (e.g. "dockerfile.buildContext"), Value as written, Path
	// where it resolves, Project the project directory.
	Field, Value, Path, Project string
}

func (e *OutsideProjectError) Error() string {
	return fmt.Sprintf("%s %q resolves to %s, outside the project directory %s; devtool only reads files inside the project (pass --allow-outside-project if you mean it)", e.Field, e.Value, e.Path, e.Project)
}

// lexicallyInside checks that the cleaned path lies in root, without touching the file system.
func lexicallyInside(root, path, field, value string) error {
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(path))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return &OutsideProjectError{Field: field, Value: value, Path: filepath.Clean(path), Project: filepath.Clean(root)}
	}
	return nil
}

// inside checks that path (which exists) lies in root after resolving symlinks in both.
func inside(root, path, field, value string) error {
	r, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(r, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return &OutsideProjectError{Field: field, Value: value, Path: p, Project: r}
	}
	return nil
}

var labelValueInvalid = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// labelValue makes s a valid Kubernetes label value (≤ 63 chars, alphanumeric at both ends).
func labelValue(s string) string {
	v := labelValueInvalid.ReplaceAllString(s, "-")
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.Trim(v, "-_.")
}
