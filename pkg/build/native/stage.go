package native

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// historyComment marks the history entries the native builder writes.
const historyComment = "devtool native builder"

// defaultShell is the shell of shell-form CMD and ENTRYPOINT until SHELL changes it.
var defaultShell = []string{"/bin/sh", "-c"}

// stage evaluates the Dockerfile's instructions for one platform.
type stage struct {
	b                *Builder
	df               *dockerfile
	bctx             *buildContext
	log              io.Writer
	lw               *layerWriter
	epoch            time.Time
	prefix           string // log prefix ("[linux/arm64] ") when building several platforms
	platform         *v1.Platform
	explicitPlatform bool
	buildArgs        map[string]string
	usedArgs         map[string]bool

	lex     *shell.Lex
	meta    []argVal // ARGs before FROM
	args    []argVal // ARGs in the stage
	started bool     // FROM seen
	base    v1.Image
	cf      *v1.ConfigFile
	layers  []v1.Layer
	layerMT types.MediaType
	view    *fsView // lazily read from the base image
	cmdSet  bool
	shell   []string
}

// argVal is a declared ARG; set is false for "ARG NAME" with no value from anywhere.
type argVal struct {
	name  string
	value string
	set   bool
}

// run evaluates every instruction and returns the image. Errors are lineErrors.
func (s *stage) run(ctx context.Context) (v1.Image, error) {
	s.lex = shell.NewLex(s.df.escape)
	s.shell = defaultShell
	n := len(s.df.instructions)
	for i, in := range s.df.instructions {
		if err := ctx.Err(); err != nil {
			return nil, &lineError{line: in.line, err: err}
		}
		fmt.Fprintf(s.log, "%sSTEP %d/%d: %s\n", s.prefix, i+1, n, in.original)
		if err := s.dispatch(ctx, in); err != nil {
			return nil, &lineError{line: in.line, err: err}
		}
	}
	if !s.started {
		return nil, &lineError{err: errors.New("no FROM instruction")}
	}
	img, err := mutate.AppendLayers(s.base, s.layers...)
	if err != nil {
		return nil, err
	}
	s.cf.Created = v1.Time{Time: s.epoch}
	return mutate.ConfigFile(img, s.cf)
}

func (s *stage) dispatch(ctx context.Context, in instruction) error {
	if !s.started && in.cmd != "arg" && in.cmd != "from" {
		return fmt.Errorf("%s before FROM: only ARG may come before the first FROM", in.name())
	}
	var err error
	layer := false
	switch in.cmd {
	case "arg":
		return s.arg(in)
	case "from":
		return s.from(ctx, in)
	case "copy", "add":
		err = s.copy(ctx, in)
		layer = true
	case "workdir":
		layer, err = s.workdir(ctx, in)
	case "env":
		err = s.env(in)
	case "label":
		err = s.label(in)
	case "expose":
		err = s.expose(in)
	case "user":
		var u string
		if u, err = s.oneWord(in); err == nil {
			s.cf.Config.User = u
		}
	case "stopsignal":
		var sig string
		if sig, err = s.oneWord(in); err == nil {
			s.cf.Config.StopSignal = sig
		}
	case "volume":
		err = s.volume(in)
	case "cmd":
		s.cf.Config.Cmd = s.command(in)
		s.cmdSet = true
	case "entrypoint":
		s.cf.Config.Entrypoint = s.command(in)
		if len(s.cf.Config.Entrypoint) == 0 {
			s.cf.Config.Entrypoint = nil
		}
		if !s.cmdSet {
			// docker: an ENTRYPOINT resets a CMD inherited from the base image.
			s.cf.Config.Cmd = nil
		}
	case "shell":
		if !in.json || len(in.args) == 0 {
			return errors.New("SHELL requires the arguments to be in JSON form, e.g. [\"/bin/bash\", \"-c\"]")
		}
		s.shell = append([]string(nil), in.args...)
		s.cf.Config.Shell = s.shell
	case "healthcheck":
		err = s.healthcheck(in)
	case "maintainer":
		if len(in.args) == 0 {
			return errors.New("MAINTAINER requires an argument")
		}
		s.cf.Author = in.args[0]
	default:
		// check() has rejected everything else already.
		return unsupported("%s is not supported by the native builder", in.name())
	}
	if err != nil {
		return err
	}
	if !layer {
		s.history(in, true)
	}
	return nil
}

// history appends the instruction's history entry.
func (s *stage) history(in instruction, emptyLayer bool) {
	s.cf.History = append(s.cf.History, v1.History{
		Created:    v1.Time{Time: s.epoch},
		CreatedBy:  in.original,
		Comment:    historyComment,
		EmptyLayer: emptyLayer,
	})
}

// addLayer appends a layer made by in.
func (s *stage) addLayer(in instruction, l v1.Layer) error {
	d, err := l.DiffID()
	if err != nil {
		return err
	}
	s.layers = append(s.layers, l)
	s.cf.RootFS.DiffIDs = append(s.cf.RootFS.DiffIDs, d)
	s.history(in, false)
	return nil
}

// expand substitutes variables in word (Dockerfile rules, buildkit's shell lexer).
func (s *stage) expand(word string, env shell.EnvGetter) (string, error) {
	out, _, err := s.lex.ProcessWord(word, env)
	if err != nil {
		return "", fmt.Errorf("expanding %q: %v", word, err)
	}
	return out, nil
}

// env is what instructions after FROM expand with: the stage's ARGs, overridden by the
// image's ENV (docker: "ENV always overrides an ARG of the same name").
func (s *stage) envGetter() shell.EnvGetter {
	var kv []string
	for _, a := range s.args {
		if a.set {
			kv = append(kv, a.name+"="+a.value)
		}
	}
	kv = append(kv, s.cf.Config.Env...)
	return shell.EnvsFromSlice(kv)
}

// metaEnv is what FROM and the ARGs before it expand with: the automatic platform ARGs
// (buildkit's TARGETPLATFORM, TARGETOS, … BUILDARCH) and the global ARGs.
func (s *stage) metaEnv() shell.EnvGetter {
	var kv []string
	for _, a := range s.autoArgs() {
		kv = append(kv, a.name+"="+a.value)
	}
	for _, a := range s.meta {
		if a.set {
			kv = append(kv, a.name+"="+a.value)
		}
	}
	return shell.EnvsFromSlice(kv)
}

func (s *stage) autoArgs() []argVal {
	t, h := s.platform, hostPlatform()
	return []argVal{
		{name: "TARGETPLATFORM", value: platformString(t), set: true},
		{name: "TARGETOS", value: t.OS, set: true},
		{name: "TARGETARCH", value: t.Architecture, set: true},
		{name: "TARGETVARIANT", value: t.Variant, set: true},
		{name: "BUILDPLATFORM", value: platformString(h), set: true},
		{name: "BUILDOS", value: h.OS, set: true},
		{name: "BUILDARCH", value: h.Architecture, set: true},
		{name: "BUILDVARIANT", value: h.Variant, set: true},
	}
}

func platformString(p *v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func hostPlatform() *v1.Platform {
	return &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// arg declares ARGs. A value comes from the build args, else the ARG's default, else (in the
// stage) the global ARG of the same name or the automatic platform ARG.
func (s *stage) arg(in instruction) error {
	if len(in.args) == 0 {
		return errors.New("ARG requires at least one argument")
	}
	env := s.metaEnv()
	if s.started {
		env = s.envGetter()
	}
	var decl []argVal
	for _, w := range in.args {
		k, v, hasV := strings.Cut(w, "=")
		k, err := s.expand(k, env)
		if err != nil {
			return err
		}
		if k == "" {
			return fmt.Errorf("ARG %q: empty name", w)
		}
		a := argVal{name: k}
		if bv, ok := s.buildArgs[k]; ok {
			a.value, a.set = bv, true
			s.usedArgs[k] = true
		} else if hasV {
			if a.value, err = s.expand(v, env); err != nil {
				return err
			}
			a.set = true
		} else if s.started {
			for _, m := range append(s.autoArgs(), s.meta...) {
				if m.name == k && m.set {
					a = m
				}
			}
		}
		decl = append(decl, a)
	}
	for _, a := range decl {
		if s.started {
			s.args = setArg(s.args, a)
		} else {
			s.meta = setArg(s.meta, a)
		}
	}
	return nil
}

func setArg(list []argVal, a argVal) []argVal {
	for i := range list {
		if list[i].name == a.name {
			list[i] = a
			return list
		}
	}
	return append(list, a)
}

// from starts the stage on the base image (a registry image, or scratch).
func (s *stage) from(ctx context.Context, in instruction) error {
	if s.started {
		return unsupported("multi-stage build (second FROM) needs a container engine")
	}
	s.started = true
	if len(in.args) != 1 && !(len(in.args) == 3 && strings.EqualFold(in.args[1], "as")) {
		return errors.New("FROM requires either one or three arguments (FROM image [AS name])")
	}
	env := s.metaEnv()
	fl, err := parseFlags(in.flags)
	if err != nil {
		return err
	}
	if p := fl["platform"]; p != "" {
		ps, err := s.expand(p, env)
		if err != nil {
			return err
		}
		pl, err := v1.ParsePlatform(ps)
		if err != nil {
			return fmt.Errorf("FROM --platform=%s: %w", ps, err)
		}
		s.platform, s.explicitPlatform = pl, true
	}
	ref, err := s.expand(in.args[0], env)
	if err != nil {
		return err
	}
	if ref == "" {
		return fmt.Errorf("FROM %s: the image reference is empty (is the build arg set?)", in.args[0])
	}
	if strings.EqualFold(ref, "scratch") {
		s.base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		s.layerMT = types.OCILayer
		s.cf = &v1.ConfigFile{
			OS: s.platform.OS, Architecture: s.platform.Architecture, Variant: s.platform.Variant,
			RootFS: v1.RootFS{Type: "layers"},
		}
		s.view = newFSView()
		return nil
	}
	r, err := s.b.parseReference(ref)
	if err != nil {
		return fmt.Errorf("FROM %s: %w", ref, err)
	}
	img, err := s.baseImage(ctx, r)
	if err != nil {
		return fmt.Errorf("FROM %s: %w", ref, err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("FROM %s: %w", ref, err)
	}
	s.layerMT = types.DockerLayer
	if mt == types.OCIManifestSchema1 {
		s.layerMT = types.OCILayer
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("FROM %s: reading the image config: %w", ref, err)
	}
	cf = cf.DeepCopy()
	if len(cf.Config.OnBuild) > 0 {
		return unsupported("FROM %s: the base image has ONBUILD triggers, which the native builder cannot run", ref)
	}
	switch {
	case cf.OS == "" || cf.Architecture == "":
		cf.OS, cf.Architecture, cf.Variant = s.platform.OS, s.platform.Architecture, s.platform.Variant
	case s.explicitPlatform && (cf.OS != s.platform.OS || cf.Architecture != s.platform.Architecture):
		return fmt.Errorf("FROM %s: the base image is %s/%s, not %s", ref, cf.OS, cf.Architecture, platformString(s.platform))
	}
	if cf.RootFS.Type == "" {
		cf.RootFS.Type = "layers"
	}
	// The base's build container and engine version do not describe this image.
	cf.Container, cf.DockerVersion = "", ""
	s.base, s.cf = img, cf
	if len(cf.Config.Shell) > 0 {
		// docker: shell forms use the SHELL the image inherited from its base.
		s.shell = append([]string(nil), cf.Config.Shell...)
	}
	if d, err := img.Digest(); err == nil {
		fmt.Fprintf(s.log, "%sbase image %s@%s\n", s.prefix, ref, d)
	}
	return nil
}

// baseImage fetches the base image r for the stage's platform. When r is an image index
// without that platform, the error names the platform and lists the ones the index has
// (go-containerregistry's own message prints the platform as a Go struct). Matching follows
// go-containerregistry's remote.Image: OS and architecture equal, variant equal when requested,
// a child without a platform counting as linux/amd64.
func (s *stage) baseImage(ctx context.Context, r name.Reference) (v1.Image, error) {
	// The registry's mirrors first (RegistryPolicy), then the registry itself.
	for _, m := range s.b.policy.Mirrors(r.Context().RegistryStr()) {
		mr, err := s.b.parseReference(mirrorRef(r, m))
		if err != nil {
			continue
		}
		if img, err := s.fetchBase(ctx, mr); err == nil {
			return img, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return s.fetchBase(ctx, r)
}

// fetchBase reads the base image r for the stage's platform from r's registry.
func (s *stage) fetchBase(ctx context.Context, r name.Reference) (v1.Image, error) {
	desc, err := remote.Get(r, s.b.remoteOptions(ctx, s.platform)...)
	if err != nil {
		return nil, baseError(err, r.Context().RegistryStr())
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading the image index: %w", err)
		}
		var have []string
		found := false
		for _, m := range im.Manifests {
			p := v1.Platform{OS: "linux", Architecture: "amd64"}
			if m.Platform != nil {
				p = *m.Platform
			}
			have = append(have, platformString(&p))
			if p.Satisfies(*s.platform) {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("the base image index has no %s image (it has %s); use a base image built for %s, or leave %s out of the requested platforms",
				platformString(s.platform), strings.Join(have, ", "), platformString(s.platform), platformString(s.platform))
		}
	}
	img, err := desc.Image()
	if err != nil {
		return nil, baseError(err, r.Context().RegistryStr())
	}
	return img, nil
}

// baseError says that a base image is missing, or its registry unreachable.
func baseError(err error, registry string) error {
	var te *transport.Error
	if errors.As(err, &te) {
		notFound := te.StatusCode == http.StatusNotFound
		for _, d := range te.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				notFound = true
			}
		}
		if notFound {
			return fmt.Errorf("image not found in registry %s: %w", registry, err)
		}
	}
	return registryError(err, registry)
}

// fs returns the image's filesystem view, reading the base image's layers the first time.
func (s *stage) fs(ctx context.Context) (*fsView, error) {
	if s.view != nil {
		return s.view, nil
	}
	v, err := viewOf(ctx, s.base, s.b.cache)
	if err != nil {
		return nil, fmt.Errorf("reading the base image's file list: %w", err)
	}
	s.view = v
	return v, nil
}

// ids resolves "user[:group]" (names or numbers) to numeric ids. A number alone is used for
// both (docker's --chown rule); a name takes its primary group from the image's /etc/passwd.
func (s *stage) ids(ctx context.Context, spec string) (uid, gid int, err error) {
	u, g, hasG := strings.Cut(spec, ":")
	if u == "" {
		return 0, 0, fmt.Errorf("%q: empty user", spec)
	}
	if n, err := strconv.Atoi(u); err == nil {
		if n < 0 {
			return 0, 0, fmt.Errorf("%q: negative uid", spec)
		}
		uid, gid = n, n
	} else {
		v, err := s.fs(ctx)
		if err != nil {
			return 0, 0, err
		}
		var ok bool
		if uid, gid, ok = v.lookupUser(u); !ok {
			return 0, 0, fmt.Errorf("user %q not found in the image's /etc/passwd (use a numeric uid)", u)
		}
	}
	if hasG {
		if n, err := strconv.Atoi(g); err == nil {
			if n < 0 {
				return 0, 0, fmt.Errorf("%q: negative gid", spec)
			}
			gid = n
		} else {
			v, err := s.fs(ctx)
			if err != nil {
				return 0, 0, err
			}
			var ok bool
			if gid, ok = v.lookupGroup(g); !ok {
				return 0, 0, fmt.Errorf("group %q not found in the image's /etc/group (use a numeric gid)", g)
			}
		}
	}
	return uid, gid, nil
}

func (s *stage) oneWord(in instruction) (string, error) {
	if len(in.args) != 1 {
		return "", fmt.Errorf("%s requires exactly one argument", in.name())
	}
	w, err := s.expand(in.args[0], s.envGetter())
	if err != nil {
		return "", err
	}
	if w == "" {
		return "", fmt.Errorf("%s: empty value", in.name())
	}
	return w, nil
}

// keyValues expands ENV and LABEL's key, value, separator triples, all with the environment
// from before the instruction (buildkit's rule).
func (s *stage) keyValues(in instruction) ([][2]string, error) {
	if len(in.args) == 0 || len(in.args)%3 != 0 {
		return nil, fmt.Errorf("%s requires at least one key=value argument", in.name())
	}
	env := s.envGetter()
	var out [][2]string
	for i := 0; i < len(in.args); i += 3 {
		k, err := s.expand(in.args[i], env)
		if err != nil {
			return nil, err
		}
		if k == "" {
			return nil, fmt.Errorf("%s: empty name", in.name())
		}
		v, err := s.expand(in.args[i+1], env)
		if err != nil {
			return nil, err
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

func (s *stage) env(in instruction) error {
	kvs, err := s.keyValues(in)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		s.cf.Config.Env = setEnv(s.cf.Config.Env, kv[0], kv[1])
	}
	return nil
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

func (s *stage) label(in instruction) error {
	kvs, err := s.keyValues(in)
	if err != nil {
		return err
	}
	if s.cf.Config.Labels == nil {
		s.cf.Config.Labels = map[string]string{}
	}
	for _, kv := range kvs {
		s.cf.Config.Labels[kv[0]] = kv[1]
	}
	return nil
}

func (s *stage) expose(in instruction) error {
	if len(in.args) == 0 {
		return errors.New("EXPOSE requires at least one argument")
	}
	env := s.envGetter()
	if s.cf.Config.ExposedPorts == nil {
		s.cf.Config.ExposedPorts = map[string]struct{}{}
	}
	for _, a := range in.args {
		w, err := s.expand(a, env)
		if err != nil {
			return err
		}
		ports, err := parsePorts(w)
		if err != nil {
			return err
		}
		for _, p := range ports {
			s.cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	return nil
}

// parsePorts parses an EXPOSE word, "80", "80/udp" or "8000-8002/tcp", into "port/proto" keys.
func parsePorts(w string) ([]string, error) {
	spec, proto, ok := strings.Cut(w, "/")
	proto = strings.ToLower(proto)
	if !ok || proto == "" {
		proto = "tcp"
	}
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return nil, fmt.Errorf("EXPOSE %s: unknown protocol %q", w, proto)
	}
	lo, hi, isRange := strings.Cut(spec, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || start == 0 {
		return nil, fmt.Errorf("EXPOSE %s: invalid port %q", w, lo)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("EXPOSE %s: invalid port range", w)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

func (s *stage) volume(in instruction) error {
	if len(in.args) == 0 {
		return errors.New("VOLUME requires at least one argument")
	}
	env := s.envGetter()
	if s.cf.Config.Volumes == nil {
		s.cf.Config.Volumes = map[string]struct{}{}
	}
	for _, a := range in.args {
		w, err := s.expand(strings.TrimSpace(a), env)
		if err != nil {
			return err
		}
		if w == "" {
			return errors.New("VOLUME: empty path")
		}
		s.cf.Config.Volumes[w] = struct{}{}
	}
	return nil
}

// command is CMD/ENTRYPOINT's argv: the JSON array as is, or the shell form run by SHELL
// (["/bin/sh", "-c", "…"] by default). Neither form expands variables (docker).
func (s *stage) command(in instruction) []string {
	if in.json {
		return append([]string{}, in.args...)
	}
	if len(in.args) == 0 {
		return nil
	}
	return append(append([]string{}, s.shell...), strings.Join(in.args, " "))
}

func (s *stage) healthcheck(in instruction) error {
	if len(in.args) == 0 {
		return errors.New("HEALTHCHECK requires an argument")
	}
	typ := strings.ToUpper(in.args[0])
	rest := in.args[1:]
	if typ == "NONE" {
		if len(rest) != 0 || len(in.flags) != 0 {
			return errors.New("HEALTHCHECK NONE takes no arguments")
		}
		s.cf.Config.Healthcheck = &v1.HealthConfig{Test: []string{"NONE"}}
		return nil
	}
	if typ != "CMD" {
		return fmt.Errorf("HEALTHCHECK: unknown type %q (want CMD or NONE)", in.args[0])
	}
	if len(rest) == 0 {
		return errors.New("HEALTHCHECK CMD requires a command")
	}
	hc := &v1.HealthConfig{}
	if in.json {
		hc.Test = append([]string{"CMD"}, rest...)
	} else {
		hc.Test = []string{"CMD-SHELL", strings.Join(rest, " ")}
	}
	fl, err := parseFlags(in.flags)
	if err != nil {
		return err
	}
	for k, dst := range map[string]*time.Duration{"interval": &hc.Interval, "timeout": &hc.Timeout, "start-period": &hc.StartPeriod} {
		if v := fl[k]; v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("HEALTHCHECK --%s=%s: want a duration such as 30s", k, v)
			}
			*dst = d
		}
	}
	if v := fl["retries"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("HEALTHCHECK --retries=%s: want a number >= 0", v)
		}
		hc.Retries = n
	}
	s.cf.Config.Healthcheck = hc
	return nil
}

// workdir sets the working directory and creates it (owned by the current USER, buildkit's
// behaviour) when the image does not have it. It reports whether it added a layer.
func (s *stage) workdir(ctx context.Context, in instruction) (bool, error) {
	w, err := s.oneWord(in)
	if err != nil {
		return false, err
	}
	if !path.IsAbs(w) {
		wd := s.cf.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		w = path.Join(wd, w)
	}
	w = path.Clean(w)
	s.cf.Config.WorkingDir = w
	p := cleanTarName(w)
	if p == "" {
		return false, nil
	}
	v, err := s.fs(ctx)
	if err != nil {
		return false, err
	}
	r, exists := v.resolve(p)
	if exists {
		if v.nodes[r].typ != tar.TypeDir {
			return false, fmt.Errorf("WORKDIR %s: exists in the image and is not a directory", w)
		}
		return false, nil
	}
	uid, gid := 0, 0
	if u := s.cf.Config.User; u != "" {
		if uid, gid, err = s.ids(ctx, u); err != nil {
			return false, fmt.Errorf("WORKDIR %s: USER %w", w, err)
		}
	}
	entries := missingDirs(v, r, uid, gid)
	if err := s.writeLayer(ctx, in, entries); err != nil {
		return false, err
	}
	return true, nil
}

// missingDirs are directory entries for p (a resolved path) and those of its parents the
// image does not have, 0755 and owned by uid:gid (docker's mode for directories it creates).
func missingDirs(v *fsView, p string, uid, gid int) []entry {
	var out []entry
	cur := ""
	for _, c := range splitPath(p) {
		cur = path.Join(cur, c)
		if _, ok := v.nodes[cur]; ok {
			continue
		}
		out = append(out, entry{name: cur, node: fsNode{typ: tar.TypeDir, mode: 0o755, uid: uid, gid: gid}})
	}
	return out
}

// writeLayer writes entries as a layer, adds it to the image and to the filesystem view.
func (s *stage) writeLayer(ctx context.Context, in instruction, entries []entry) error {
	l, err := s.lw.write(ctx, entries, s.layerMT)
	if err != nil {
		return err
	}
	if err := s.addLayer(in, l); err != nil {
		return err
	}
	for _, e := range entries {
		s.view.add(e.name, e.node)
	}
	return nil
}

// copy runs COPY and ADD (local sources only) as one layer. Docker's rules: sources are
// relative to the context root; a directory source copies its contents; several sources, a
// directory source, a destination ending in "/" or an existing directory make the
// destination a directory; a relative destination is relative to WORKDIR; missing
// destination directories are created 0755 and owned by --chown's user.
func (s *stage) copy(ctx context.Context, in instruction) error {
	add := in.cmd == "add"
	fl, err := parseFlags(in.flags)
	if err != nil {
		return err
	}
	if len(in.args) < 2 {
		return fmt.Errorf("%s requires at least two arguments", in.name())
	}
	env := s.envGetter()
	words := make([]string, len(in.args))
	for i, a := range in.args {
		if words[i], err = s.expand(a, env); err != nil {
			return err
		}
	}
	srcs, dest := words[:len(words)-1], words[len(words)-1]
	what := in.name() + " " + strings.Join(srcs, " ")

	uid, gid := 0, 0
	if c := fl["chown"]; c != "" {
		spec, err := s.expand(c, env)
		if err != nil {
			return err
		}
		if uid, gid, err = s.ids(ctx, spec); err != nil {
			return fmt.Errorf("%s --chown=%s: %w", in.name(), spec, err)
		}
	}
	var chmod *int64
	if c := fl["chmod"]; c != "" {
		spec, err := s.expand(c, env)
		if err != nil {
			return err
		}
		m, err := strconv.ParseUint(spec, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("%s --chmod=%s: want an octal mode between 0 and 7777, such as 0755", in.name(), spec)
		}
		mm := int64(m)
		chmod = &mm
	}

	var items []source
	for _, src := range srcs {
		if add && isRemoteSource(src) {
			return unsupported("ADD %s: remote sources (URLs, git) are not supported by the native builder", src)
		}
		found, err := s.bctx.sources(ctx, src)
		if err != nil {
			return fmt.Errorf("%s %s: %w", in.name(), src, err)
		}
		if len(found) == 0 {
			fmt.Fprintf(s.log, "%swarning: %s %s matched no files in the build context\n", s.prefix, in.name(), src)
		}
		for _, f := range found {
			if add && f.info.Mode().IsRegular() {
				if arch, err := isArchive(f.path); err != nil {
					return fmt.Errorf("ADD %s: %w", src, err)
				} else if arch {
					return unsupported("ADD %s: extracting a local archive is not supported by the native builder; use COPY to copy it as is, or a container engine", src)
				}
			}
		}
		items = append(items, found...)
	}

	v, err := s.fs(ctx)
	if err != nil {
		return err
	}
	destPath, intoDir := s.destination(dest)
	if len(srcs) > 1 || len(items) > 1 {
		intoDir = true
	}
	for _, it := range items {
		if it.info.IsDir() {
			intoDir = true
		}
	}
	if !intoDir && v.isDir(destPath) {
		intoDir = true
	}

	planned := map[string]entry{}
	for _, it := range items {
		if it.info.IsDir() {
			ws, err := s.bctx.walk(ctx, it)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			for _, w := range ws {
				e, err := fileEntry(w.path, w.info, w.link, uid, gid, chmod)
				if err != nil {
					return fmt.Errorf("%s: %s: %w", what, w.rel, err)
				}
				e.name = path.Join(destPath, w.rel)
				planned[e.name] = e
			}
			continue
		}
		e, err := fileEntry(it.path, it.info, "", uid, gid, chmod)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		e.name = destPath
		if intoDir {
			e.name = path.Join(destPath, path.Base(it.rel))
		}
		if e.name == "" {
			return fmt.Errorf("%s: cannot copy a file onto /", what)
		}
		planned[e.name] = e
	}

	// Place entries where the image's symlinks put them, and create missing directories.
	final := map[string]entry{}
	for _, e := range planned {
		e.name = v.resolveParent(e.name)
		if old, ok := v.nodes[e.name]; ok && e.node.typ == tar.TypeDir && old.typ == tar.TypeSymlink && v.isDir(e.name) {
			continue // keep the image's symlink to a directory; the contents go through it
		}
		final[e.name] = e
	}
	dir := destPath
	if !intoDir {
		dir = path.Dir(destPath)
		if dir == "." {
			dir = ""
		}
	}
	rd, _ := v.resolve(dir)
	for _, e := range missingDirs(v, rd, uid, gid) {
		if _, ok := final[e.name]; !ok {
			final[e.name] = e
		}
	}
	entries := make([]entry, 0, len(final))
	for _, e := range final {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	if err := s.writeLayer(ctx, in, entries); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// destination resolves a COPY destination against WORKDIR; intoDir is docker's "ends with /"
// rule ("." and "dir/." count).
func (s *stage) destination(dest string) (p string, intoDir bool) {
	intoDir = strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, "/.") || dest == "." || dest == ".."
	if !path.IsAbs(dest) {
		wd := s.cf.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
	}
	p = cleanTarName(dest)
	if p == "" {
		intoDir = true
	}
	return p, intoDir
}

// fileEntry describes one copied file: regular file, directory or symlink; its mode comes
// from the file (permission, setuid, setgid and sticky bits) unless --chmod gives one.
func fileEntry(hostPath string, fi fs.FileInfo, link string, uid, gid int, chmod *int64) (entry, error) {
	mode := int64(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	if chmod != nil {
		mode = *chmod
	}
	e := entry{node: fsNode{mode: mode, uid: uid, gid: gid}}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		e.node.typ = tar.TypeSymlink
		e.node.mode = 0o777
		e.node.link = link
	case fi.IsDir():
		e.node.typ = tar.TypeDir
	case fi.Mode().IsRegular():
		e.node.typ = tar.TypeReg
		e.src = hostPath
		e.size = fi.Size()
	default:
		return entry{}, fmt.Errorf("unsupported file type %s", fi.Mode().Type())
	}
	return e, nil
}

// isArchive reports whether a file is one ADD would extract: tar, or gzip/bzip2/xz/zstd
// compressed (docker detects archives by content, not by name).
func isArchive(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, err
	}
	buf = buf[:n]
	for _, magic := range [][]byte{{0x1f, 0x8b}, []byte("BZh"), {0xfd, '7', 'z', 'X', 'Z', 0x00}, {0x28, 0xb5, 0x2f, 0xfd}} {
		if bytes.HasPrefix(buf, magic) {
			return true, nil
		}
	}
	return len(buf) >= 262 && string(buf[257:262]) == "ustar", nil
}
