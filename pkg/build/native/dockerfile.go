package native

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// instruction is one Dockerfile instruction as the buildkit parser read it, before variable
// expansion.
type instruction struct {
	cmd      string // lower case: "copy", "from", …
	line     int    // first line, 1-based
	original string // the instruction's text, continuation lines joined
	flags    []string
	args     []string // argument words; for ENV and LABEL key, value, separator triples
	json     bool     // exec (JSON array) form
	heredocs int
}

// name is the instruction keyword as users write it ("COPY").
func (in instruction) name() string { return strings.ToUpper(in.cmd) }

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	instructions []instruction
	escape       rune
	warnings     []string
}

// parseDockerfile parses data with the buildkit Dockerfile parser (frontend/dockerfile/parser).
// Errors carry the line when the parser reports one.
func parseDockerfile(data []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, parseError(err)
	}
	df := &dockerfile{escape: res.EscapeToken}
	for _, w := range res.Warnings {
		df.warnings = append(df.warnings, w.Short)
	}
	for _, n := range res.AST.Children {
		in := instruction{
			cmd:      strings.ToLower(n.Value),
			line:     n.StartLine,
			original: strings.TrimSpace(n.Original),
			flags:    n.Flags,
			json:     n.Attributes["json"],
			heredocs: len(n.Heredocs),
		}
		for a := n.Next; a != nil; a = a.Next {
			if len(a.Children) > 0 {
				// ONBUILD's sub-instruction; only used to name it.
				in.args = append(in.args, a.Children[0].Value)
				continue
			}
			in.args = append(in.args, a.Value)
		}
		df.instructions = append(df.instructions, in)
	}
	return df, nil
}

// lineError is an error at a Dockerfile line (0: not tied to one).
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("line %d: %v", e.line, e.err)
	}
	return e.err.Error()
}

func (e *lineError) Unwrap() error { return e.err }

// parseError turns a buildkit parser error into a lineError, taking the line from its
// LocationError when there is one.
func parseError(err error) error {
	var le *parser.LocationError
	line := 0
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		line = le.Locations[0][0].Start.Line
	}
	// The parser's errors carry a stack trace in %+v; %v is the plain message.
	return &lineError{line: line, err: fmt.Errorf("parsing Dockerfile: %v", unwrapLocation(err))}
}

func unwrapLocation(err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) {
		if u := le.Unwrap(); u != nil {
			return u
		}
	}
	return err
}

// ErrUnsupported is wrapped by errors (and named by Supports reasons) for Dockerfile features
// the native builder cannot handle, such as RUN: use a container-engine backend for those.
var ErrUnsupported = errors.New("not supported by the native builder")

// unsupportedError names what is not supported; it wraps ErrUnsupported.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }
func (e *unsupportedError) Unwrap() error { return ErrUnsupported }

func unsupported(format string, a ...any) error {
	return &unsupportedError{msg: fmt.Sprintf(format, a...)}
}

// Supports reports whether the native builder can build dockerfile (the Dockerfile's content):
// exactly one FROM, and only the instructions and flags Build implements (ARG, FROM, COPY, ADD
// of local files, WORKDIR, ENV, LABEL, EXPOSE, USER, CMD, ENTRYPOINT, STOPSIGNAL, HEALTHCHECK,
// VOLUME, SHELL, MAINTAINER). reason says why, for --builder auto's message: when it can,
// "in-process, the Dockerfile needs no RUN"; when it cannot, the first problem and its line,
// e.g. "line 4: RUN needs a container engine" or "line 5: multi-stage build (second FROM)",
// or the parse error. Supports fits build.Candidate's Accepts. It looks at the text only: a
// COPY source missing from the build context or an ADD of a local archive is found by Build.
func Supports(dockerfile []byte) (ok bool, reason string) {
	df, err := parseDockerfile(dockerfile)
	if err != nil {
		return false, err.Error()
	}
	if err := df.check(); err != nil {
		return false, err.Error()
	}
	return true, supportedReason
}

// supportedReason is Supports' reason for a Dockerfile it supports.
const supportedReason = "in-process, the Dockerfile needs no RUN"

// check finds the first instruction or flag that Build does not support.
func (df *dockerfile) check() error {
	froms := 0
	for _, in := range df.instructions {
		if err := in.check(); err != nil {
			return &lineError{line: in.line, err: err}
		}
		if froms == 0 && in.cmd != "from" && in.cmd != "arg" {
			return &lineError{line: in.line, err: fmt.Errorf("%s before FROM: only ARG may come before the first FROM", in.name())}
		}
		if in.cmd == "from" {
			froms++
			if froms > 1 {
				return &lineError{line: in.line, err: unsupported("multi-stage build (second FROM) needs a container engine")}
			}
		}
	}
	if froms == 0 {
		return &lineError{err: errors.New("no FROM instruction")}
	}
	return nil
}

// allowedFlags are the flags each supported instruction accepts. Flags buildkit knows but the
// native builder does not implement are reported as unsupported.
var allowedFlags = map[string][]string{
	"from":        {"platform"},
	"copy":        {"chown", "chmod", "link"},
	"add":         {"chown", "chmod", "link"},
	"healthcheck": {"interval", "timeout", "start-period", "retries"},
}

// check reports whether in is an instruction Build implements, with flags it implements.
func (in instruction) check() error {
	switch in.cmd {
	case "run":
		return unsupported("RUN needs a container engine")
	case "onbuild":
		return unsupported("ONBUILD is not supported by the native builder")
	case "arg", "from", "copy", "add", "workdir", "env", "label", "expose", "user", "cmd",
		"entrypoint", "stopsignal", "healthcheck", "volume", "shell", "maintainer":
	default:
		return fmt.Errorf("unknown instruction %s", in.name())
	}
	fl, err := parseFlags(in.flags)
	if err != nil {
		return fmt.Errorf("%s: %w", in.name(), err)
	}
	for k := range fl {
		switch {
		case k == "from" && in.cmd == "copy":
			return unsupported("COPY --from needs a multi-stage build or another image; use a container engine")
		case !contains(allowedFlags[in.cmd], k):
			return unsupported("%s --%s is not supported by the native builder", in.name(), k)
		}
	}
	if in.heredocs > 0 {
		return unsupported("%s with a here-document is not supported by the native builder", in.name())
	}
	if in.cmd == "add" {
		for _, src := range in.args[:max(len(in.args)-1, 0)] {
			if isRemoteSource(src) {
				return unsupported("ADD %s: remote sources (URLs, git) are not supported by the native builder", src)
			}
		}
	}
	if (in.cmd == "copy" || in.cmd == "add") && len(in.args) < 2 {
		return fmt.Errorf("%s requires at least two arguments", in.name())
	}
	return nil
}

// isRemoteSource reports whether an ADD source is a URL or git reference (docker's rules).
func isRemoteSource(src string) bool {
	for _, p := range []string{"http://", "https://", "git://", "git@", "ssh://"} {
		if strings.HasPrefix(src, p) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseFlags parses instruction flags ("--chown=1:1", "--link") into a map; a flag without a
// value maps to "true". Repeated flags are an error.
func parseFlags(raw []string) (map[string]string, error) {
	fl := make(map[string]string, len(raw))
	for _, f := range raw {
		if !strings.HasPrefix(f, "--") {
			return nil, fmt.Errorf("malformed flag %q", f)
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if !ok {
			v = "true"
		}
		k = strings.ToLower(k)
		if k == "" {
			return nil, fmt.Errorf("malformed flag %q", f)
		}
		if _, dup := fl[k]; dup {
			return nil, fmt.Errorf("duplicate flag --%s", k)
		}
		fl[k] = v
	}
	return fl, nil
}
