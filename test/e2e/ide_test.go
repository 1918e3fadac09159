package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/pkg/event"
	docschema "github.com/devtool/devtool/test/schema"
)

// devtoolBinary builds cmd/devtool once per test binary (the go build cache makes it a link),
// static (CGO_ENABLED=0): the in-container kaniko test runs it in a root file system without a
// C library. TestMain removes it.
func devtoolBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "devtool-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "devtool")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/devtool/devtool/cmd/devtool")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = errors.New(string(out))
		}
	})
	if binErr != nil {
		t.Fatalf("building devtool: %v", binErr)
	}
	return binPath
}

// TestIDEDeploySIGTERM drives `devtool deploy --progress=json -o json` as an IDE extension
// does: a subprocess whose NDJSON events are read as they come, stopped with SIGTERM in the
// middle of a build. The events follow the plan (preflight, the build step starts, then fails
// "cancelled"; the apply step never starts), every event and the Error document match their
// schemas, the exit code is 130, and no build process (the RUN's sleep) is left behind.
func TestIDEDeploySIGTERM(t *testing.T) {
	needBuildah(t)
	e := setup(t)
	bin := devtoolBinary(t)
	marker := "sleep 137"
	dir := writeProject(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM ${BASE}\nRUN " + marker + "\n",
		"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: ide}
components:
  - name: img
    image: {imageName: ide, dockerfile: {uri: Dockerfile, args: ["BASE={{BASE}}"]}}
  - name: k8s
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: after-ide-build, namespace: default}
` + buildThenApply,
	})
	cmd := exec.Command(bin, "deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", e.registry+"/e2e",
		"--var", "BASE="+e.base, "--builder", "buildah", "--progress=json", "-o", "json")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var events []event.Event
	var raw bytes.Buffer
	sc := bufio.NewScanner(stderr)
	signalled := false
	for sc.Scan() {
		raw.Write(sc.Bytes())
		raw.WriteByte('\n')
		var ev event.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Errorf("not an NDJSON event: %q", sc.Text())
			continue
		}
		events = append(events, ev)
		if !signalled && ev.Type == event.Log && strings.Contains(ev.Message, marker) {
			time.Sleep(time.Second) // the RUN is running
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != cli.ExitCancelled {
		t.Fatalf("exit: %v, want %d\nevents:\n%s", err, cli.ExitCancelled, raw.String())
	}
	if !signalled {
		t.Fatalf("the build never ran the RUN:\n%s", raw.String())
	}
	var seq []string
	for _, ev := range events {
		if ev.Type == event.StepStarted || ev.Type == event.StepFailed || ev.Type == event.StepSucceeded {
			seq = append(seq, string(ev.Type)+" "+ev.Step+" "+map[bool]string{true: ev.Message, false: ""}[ev.Type == event.StepFailed])
		}
	}
	if want := []string{"stepStarted build ", "stepFailed build cancelled"}; strings.Join(seq, "|") != strings.Join(want, "|") {
		t.Errorf("step events %q, want %q", seq, want)
	}
	if !strings.HasPrefix(events[0].Message, "checking 1 objects against the cluster") {
		t.Errorf("first event %+v, want the preflight", events[0])
	}
	if _, err := docschema.Events(raw.Bytes()); err != nil {
		t.Error(err)
	}
	if err := docschema.Document(stdout.Bytes()); err != nil {
		t.Errorf("stdout: %v\n%s", err, stdout.String())
	}
	var doc cli.ErrorDocument
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil || doc.Code != "Cancelled" || doc.ExitCode != cli.ExitCancelled {
		t.Errorf("stdout is not the Cancelled Error document: %v %s", err, stdout.String())
	}
	if _, err := e.get(t, configmaps, "default", "after-ide-build"); !apierrors.IsNotFound(err) {
		t.Errorf("the apply step ran after SIGTERM (err=%v)", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := processesRunning(marker)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left 10 s after SIGTERM: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// processesRunning lists the PIDs whose command line contains s.
func processesRunning(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			out = append(out, filepath.Base(filepath.Dir(f)))
		}
	}
	return out
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)
