package native

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/devtool/devtool/pkg/build"
)

// Fuzz targets for the native builder's Dockerfile handling: parsing and Supports, whole
// builds on scratch (variable expansion, every config instruction, COPY/ADD from a small
// context), and ARG/ENV expansion. No target touches the network: FROM anything but scratch
// fails at a transport that refuses every request.

// fuzzDockerfiles are realistic seeds: the shapes of this package's tests and the hello sample,
// on scratch so that builds get past FROM without a registry.
var fuzzDockerfiles = []string{
	"ARG B=scratch\nFROM $B AS app\nWORKDIR /a\nCOPY --chown=1:1 --chmod=0644 . .\nADD f /f\nENV A=1\nLABEL a=b\nEXPOSE 80\nUSER 1\nCMD x\nENTRYPOINT [\"y\"]\nSTOPSIGNAL 9\nHEALTHCHECK CMD true\nVOLUME /v\nSHELL [\"/bin/sh\", \"-c\"]\n",
	"FROM scratch\nCOPY a /a\n\nRUN make\n",
	"FROM scratch AS a\nFROM scratch\n",
	"FROM scratch\nCOPY --from=other /a /a\n",
	"FROM scratch\nONBUILD COPY . /app\n",
	"FROM scratch\nADD https://example.com/x /x\n",
	"FROM scratch\nCOPY <<EOF /a\nhello\nEOF\n",
	"FROM scratch\nCOPY --parents a/b /x/\n",
	"FROM scratch\nFROBNICATE x\n",
	"ENV A=1\nFROM scratch\n",
	"ARG A=1\n",
	"FROM scratch\nCMD [\"a\", 1]\n",
	"# nothing\n",
	"# escape=`\nFROM scratch\nENV A=`$B C=${A:-x}\n",
	"# syntax=docker/dockerfile:1\nFROM scratch\nCOPY \\\n  f \\\n  /f\n",
	"ARG BASE_IMAGE=example.invalid/none:latest\nFROM ${BASE_IMAGE}\nARG BASE_IMAGE\nENV BASE=$BASE_IMAGE\n",
	"ARG GLOBAL=global-default\nARG BASE=scratch\nFROM $BASE\nARG LOCAL=local-default\nARG X=from-arg\nARG FROM_ENV\nENV X=from-env\nENV A=\"${GLOBAL:-not-redeclared}\" B=$LOCAL C=${X} D=${UNSET:-fallback} E=$FROM_ENV PATH=/app:$PATH\n",
	"FROM scratch\nENV APP=/opt/app PORT=8080\nWORKDIR $APP\nWORKDIR bin\nLABEL org.opencontainers.image.title=\"my app\" version=1.0\nLABEL path=$APP\nEXPOSE $PORT 53/udp 9000-9001\nUSER 1000:1000\nENTRYPOINT [\"/opt/app/bin/server\", \"--port\", \"8080\"]\nCMD [\"--verbose\"]\nSTOPSIGNAL SIGQUIT\nVOLUME [\"/data\", \"/cache\"]\nHEALTHCHECK --interval=5s --retries=3 CMD wget -q -O- http://localhost:8080/ || exit 1\nMAINTAINER someone@example.com\n",
	"FROM scratch\nSHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]\nENTRYPOINT exec /bin/server --flag \"$HOME\"\n",
	"FROM scratch\nCMD echo \"hello $NAME\"\n",
	"FROM scratch\nARG TARGETARCH\nENV ARCH=$TARGETARCH\nCOPY f /f\n",
	"FROM --platform=$BUILDPLATFORM scratch\nCOPY dir/ /srv/\nCOPY link /l\nCOPY *.txt /txt/\nADD app.tar.gz /\n",
	"FROM scratch\nCOPY . .\nCOPY --chown=www f /g\nWORKDIR rel\nCOPY f ./\n",
	"FROM scratch\nHEALTHCHECK NONE\nEXPOSE 1-3/sctp\nSTOPSIGNAL $SIG\nUSER $U\n",
	"FROM 127.0.0.1:1/base:1\n",
	"ARG BASE\nFROM ${BASE}\n",
}

// refuse is a transport that fails every request: builds never leave the process.
type refuse struct{}

func (refuse) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("network disabled in fuzzing")
}

var lineReason = regexp.MustCompile(`^line (\d+): `)

// FuzzSupports checks Supports and the parse it is built on: there is always a reason, the fixed
// one exactly when ok; a problem's line is a line of the file; and a supported Dockerfile has exactly one FROM,
// nothing but ARG before it, and only instructions Build implements.
func FuzzSupports(f *testing.F) {
	for _, s := range fuzzDockerfiles {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "samples", "hello", "Dockerfile")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ok, reason := Supports(data)
		if ok != (reason == supportedReason) || reason == "" {
			t.Fatalf("Supports = %v, %q: want true with %q, or false with the problem", ok, reason, supportedReason)
		}
		if m := lineReason.FindStringSubmatch(reason); m != nil {
			n, _ := strconv.Atoi(m[1])
			if lines := strings.Count(string(data), "\n") + 1; n < 1 || n > lines {
				t.Fatalf("reason names line %d of a %d-line Dockerfile: %q", n, lines, reason)
			}
		}
		df, err := parseDockerfile(data)
		if err != nil {
			if ok || reason != err.Error() {
				t.Fatalf("parse error %v, but Supports = %v, %q", err, ok, reason)
			}
			return
		}
		if !ok {
			return
		}
		froms := 0
		for i, in := range df.instructions {
			if in.line < 1 {
				t.Fatalf("instruction %d (%s) has line %d", i, in.name(), in.line)
			}
			switch in.cmd {
			case "from":
				froms++
			case "arg":
			default:
				if froms == 0 {
					t.Fatalf("supported, but %s comes before FROM", in.name())
				}
			}
			if in.check() != nil || in.heredocs > 0 {
				t.Fatalf("supported, but %s fails its check", in.name())
			}
		}
		if froms != 1 {
			t.Fatalf("supported with %d FROM instructions", froms)
		}
	})
}

// fuzzContext is the build context of FuzzBuild: regular files, a directory, an internal
// symlink, an ignored file and a gzip archive (which ADD refuses to extract).
var fuzzContext = map[string]string{
	"f":                  "f\n",
	"a":                  "a\n",
	"app.txt":            "hello\n",
	"dir/index.html":     "<html></html>\n",
	"dir/sub/b.txt":      "b\n",
	"x.secret":           "secret\n",
	".dockerignore":      "*.secret\n",
	"app.tar.gz":         "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00",
	"www/index.html":     "<h1>hello</h1>\n",
	"serve.sh":           "#!/bin/sh\nexec httpd -f -p \"${PORT:-8080}\" -h /srv/www\n",
	"dir/sub/.keep":      "",
	"deep/a/b/c/d/e.txt": "e\n",
}

// FuzzBuild builds a fuzzed Dockerfile with one fuzzed build arg, without pushing. Build must not
// panic; failures are *Error values naming the image; what Supports refuses, Build refuses too,
// and what Supports accepts never fails as unsupported except ADD of the context's archive; and a
// build that succeeds gives the same digest when repeated (reproducibility).
func FuzzBuild(f *testing.F) {
	for _, s := range fuzzDockerfiles {
		f.Add([]byte(s), "")
	}
	f.Add([]byte("ARG BASE_IMAGE=busybox:latest\nFROM ${BASE_IMAGE}\nWORKDIR /srv/www\nCOPY www/ ./\nCOPY serve.sh /usr/local/bin/serve.sh\nENV PORT=8080\nEXPOSE 8080\nUSER 65534\nCMD [\"/bin/sh\", \"/usr/local/bin/serve.sh\"]\n"), "BASE_IMAGE=scratch")
	f.Add([]byte("ARG V\nFROM scratch\nARG V\nLABEL v=$V\n"), "V=1.0")
	f.Add([]byte("FROM scratch\nCOPY f /f\n"), "SOURCE_DATE_EPOCH=1700000000")
	f.Add([]byte("FROM scratch\nCOPY f /f\n"), "SOURCE_DATE_EPOCH=-1")
	f.Add([]byte("FROM scratch\n"), "=x")

	root := f.TempDir()
	ctxDir := filepath.Join(root, "context")
	for name, content := range fuzzContext {
		p := filepath.Join(ctxDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.Symlink("app.txt", filepath.Join(ctxDir, "link")); err != nil {
		f.Fatal(err)
	}
	// The Dockerfile lies outside the context, so that its content cannot change what COPY . sees.
	dockerfile := filepath.Join(root, "Dockerfile")
	b := New(WithTransport(refuse{}))

	f.Fuzz(func(t *testing.T, data []byte, arg string) {
		if len(data) > 16<<10 {
			t.Skip()
		}
		if err := os.WriteFile(dockerfile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		req := build.Request{Name: "fuzz", ContextDir: ctxDir, Dockerfile: dockerfile, Repository: "127.0.0.1:1/fuzz"}
		if arg != "" {
			req.Args = []string{arg}
		}
		ok, reason := Supports(data)
		res, err := b.Build(context.Background(), req, io.Discard)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Name != "fuzz" {
				t.Fatalf("Build error is %T, not a native *Error naming the image: %v", err, err)
			}
			if ok && errors.Is(err, ErrUnsupported) && !strings.Contains(err.Error(), "extracting a local archive") {
				t.Fatalf("Supports accepted the Dockerfile, Build says unsupported: %v", err)
			}
			return
		}
		if !ok {
			t.Fatalf("Build succeeded, Supports refused: %s", reason)
		}
		if _, err := v1.NewHash(res.Digest); err != nil {
			t.Fatalf("Result.Digest %q: %v", res.Digest, err)
		}
		again, err := b.Build(context.Background(), req, io.Discard)
		if err != nil {
			t.Fatalf("second build: %v", err)
		}
		if again.Digest != res.Digest {
			t.Fatalf("not reproducible: %s, then %s", res.Digest, again.Digest)
		}
	})
}

// shellName is a name the shell lexer reads whole after "$".
var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// FuzzExpand checks ARG/ENV expansion as instructions after FROM see it (stage.expand over
// stage.envGetter): ENV wins over an ARG of the same name, ${name} and $name give the value as
// is (no second expansion), ${name:-default} falls back on an empty value, and a word without
// quotes, escapes or "$" is left alone (if it is valid UTF-8: the lexer reads runes).
func FuzzExpand(f *testing.F) {
	f.Add("PORT", "8080", "arg", "${PORT:-x}/tcp", byte('\\'))
	f.Add("APP", "/opt/app", "", "$APP/bin", byte('\\'))
	f.Add("A", "$B", "b", "${A}${A}", byte('`'))
	f.Add("X", "", "from-arg", "${X:-fallback}", byte('\\'))
	f.Add("PATH", "/app:$PATH", "", "\"${PATH}\"", byte('\\'))
	f.Add("GLOBAL", "g", "", "${GLOBAL:+set} ${UNSET:?must} 'lit $X'", byte('\\'))
	f.Fuzz(func(t *testing.T, name, envVal, argValue, word string, escape byte) {
		esc := rune('\\')
		if escape == '`' {
			esc = '`'
		}
		s := &stage{
			lex:  shell.NewLex(esc),
			args: []argVal{{name: name, value: argValue, set: true}, {name: "OTHER", value: argValue, set: true}},
			cf:   &v1.ConfigFile{Config: v1.Config{Env: []string{"PATH=/usr/bin", name + "=" + envVal}}},
		}
		env := s.envGetter()
		got, err := s.expand(word, env) // must not panic, whatever the word
		if err == nil && utf8.ValidString(word) && !strings.ContainsAny(word, "$'\"\\`") && got != word {
			t.Fatalf("expand(%q) = %q, want it unchanged", word, got)
		}
		if !shellName.MatchString(name) || strings.Contains(name, "=") {
			return
		}
		for _, ref := range []string{"${" + name + "}", "$" + name} {
			if got, err := s.expand(ref, env); err != nil || got != envVal {
				t.Fatalf("expand(%q) = %q, %v; want the ENV value %q (ENV wins over ARG, no re-expansion)", ref, got, err, envVal)
			}
		}
		want := envVal
		if want == "" {
			want = "fallback"
		}
		if got, err := s.expand("${"+name+":-fallback}", env); err != nil || got != want {
			t.Fatalf("expand(${%s:-fallback}) = %q, %v; want %q", name, got, err, want)
		}
		if name != "OTHER" {
			if got, err := s.expand("${OTHER}", env); err != nil || got != argValue {
				t.Fatalf("expand(${OTHER}) = %q, %v; want the ARG value %q", got, err, argValue)
			}
		}
	})
}
