package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/devtool/devtool/pkg/build/kaniko"
	"github.com/devtool/devtool/pkg/run"
	docschema "github.com/devtool/devtool/test/schema"
	"github.com/devtool/devtool/test/testenv"
)

// TestKanikoRoutine runs the in-container kaniko builder (--kaniko-execution=routine, or
// auto-detected) for real, never on the machine's root file system: devtool (a static build)
// and the kaniko executor are put in a throw-away root file system that looks like a podman
// container (/run/.containerenv, /kaniko/executor), and run there under unshare (mount and PID
// namespaces, so every mount vanishes with them) + chroot, with the project bind-mounted at
// /workspace. The loopback registry is reachable (the network is shared). The build there
// leaves --kaniko-execution at auto, so devtool's container detection picks the routine. It
// also checks the two refusals: not in a container, and a build context that is not on a
// mount point.
func TestKanikoRoutine(t *testing.T) {
	executor := routineNeeds(t)
	bin := devtoolBinary(t) // static
	host := testenv.StartRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base, err := testenv.PushBusybox(ctx, host)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("in-container", func(t *testing.T) {
		nonce := routineNonce(t)
		marker := "kaniko-routine-" + nonce // the file the RUN writes at the image's root
		k := routineRootfs(t, executor, bin, true)
		project := writeProject(t, routineProject(marker))
		before := routineTree(t, project)

		start := time.Now()
		stdout, stderr, err := routineChroot(t, k, project, "/kaniko/devtool", "build", "--builder", "kaniko", "--push",
			"--devfile", "/workspace", "--image-registry", host+"/routine", "--var", "BASE="+base, "-o", "json")
		t.Logf("devtool build in the chroot took %s", time.Since(start).Round(time.Millisecond))
		routineNoMounts(t, k)
		if err != nil {
			t.Fatalf("devtool build in the chroot: %v\nstdout:\n%s", err, stdout)
		}
		if serr := docschema.Document([]byte(stdout)); serr != nil {
			t.Errorf("stdout: %v", serr)
		}
		var rep run.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("stdout is not a JSON report: %v\n%s", err, stdout)
		}
		if len(rep.Images) != 1 || rep.Images[0].Builder != "kaniko" || rep.Images[0].Digest == "" {
			t.Fatalf("images = %+v, want one kaniko build with a digest", rep.Images)
		}
		if !strings.Contains(stderr, "kaniko") {
			t.Errorf("progress does not mention kaniko:\n%s", stderr)
		}
		ref := rep.Images[0].Ref()
		if !strings.HasPrefix(ref, host+"/routine/") {
			t.Errorf("image ref %q: want it under %s/routine", ref, host)
		}
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(r)
		if err != nil {
			t.Fatalf("registry does not have %s: %v", ref, err)
		}
		if d, _ := img.Digest(); d.String() != rep.Images[0].Digest {
			t.Errorf("registry digest %s != reported %s", d, rep.Images[0].Digest)
		}
		if got := testenv.ImageFile(t, ref, marker); got != "ran "+nonce+"\n" {
			t.Errorf("/%s in the pushed image = %q, want the RUN's output", marker, got)
		}
		// The RUN ran in the chroot's root, not in the machine's.
		if _, err := os.Stat(filepath.Join(k, marker)); err != nil {
			t.Errorf("the RUN's file is not in the chroot's root: %v", err)
		}
		if _, err := os.Stat("/" + marker); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("/%s exists on the machine's root file system (err %v): kaniko ran outside the chroot", marker, err)
		}
		// kaniko leaves the mounted project alone.
		if after := routineTree(t, project); !slices.Equal(before, after) {
			t.Errorf("the project changed: %v → %v", before, after)
		}
	})

	t.Run("refuses-outside-a-container", func(t *testing.T) {
		t.Run("chroot", func(t *testing.T) {
			if why := routineCgroupContainer(); why != "" {
				t.Skipf("this machine's cgroup (%s) makes every chroot look like a container", why)
			}
			marker := "kaniko-routine-" + routineNonce(t)
			k := routineRootfs(t, executor, bin, false) // no /run/.containerenv: a host to devtool
			project := writeProject(t, routineProject(marker))
			before := routineTree(t, k)
			stdout, stderr, err := routineChroot(t, k, project, "/kaniko/devtool", "build", "--builder", "kaniko", "--kaniko-execution=routine",
				"--push", "--devfile", "/workspace", "--image-registry", host+"/refused-host", "--var", "BASE="+base)
			routineNoMounts(t, k)
			if err == nil {
				t.Fatalf("devtool build --kaniko-execution=routine outside a container succeeded\nstdout:\n%s", stdout)
			}
			if !strings.Contains(stderr, "devtool is not running inside a container") {
				t.Errorf("stderr does not say devtool is not in a container:\n%s", stderr)
			}
			if after := routineTree(t, k); !slices.Equal(before, after) {
				t.Errorf("the refused build changed the root file system:\nbefore %v\nafter  %v", before, after)
			}
			routineNothingPushed(t, host, "refused-host")
		})
		t.Run("host", func(t *testing.T) {
			// Only where devtool itself finds no container: elsewhere (this machine has
			// /.dockerenv) the check passes and kaniko would run over the real root.
			if ok, why := kaniko.InContainer(os.Getenv); ok {
				t.Skipf("devtool sees a container here (%s); the chroot case covers the refusal", why)
			}
			// An executor stand-in that leaves a trace: the refusal must come before it runs.
			dir := t.TempDir()
			trace := filepath.Join(dir, "executor-ran")
			fake := filepath.Join(dir, "executor")
			if err := os.WriteFile(fake, []byte("#!/bin/sh\ntouch "+trace+"\nexit 1\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			_, kanikoBefore := os.Stat("/kaniko")
			project := writeProject(t, routineProject("kaniko-routine-"+routineNonce(t)))
			_, stderr, err := devtoolEnv(t, map[string]string{"DEVTOOL_KANIKO_EXECUTOR": fake}, "build", "--builder", "kaniko", "--kaniko-execution=routine",
				"--push", "--devfile", project, "--image-registry", host+"/refused-inproc", "--var", "BASE="+base, "-o", "json")
			if err == nil || !strings.Contains(err.Error(), "devtool is not running inside a container") {
				t.Errorf("err = %v, want the not-in-a-container refusal\nstderr:\n%s", err, stderr)
			}
			if _, err := os.Stat(trace); err == nil {
				t.Error("the executor ran")
			}
			if _, err := os.Stat("/kaniko"); kanikoBefore != nil && err == nil {
				t.Error("the refused build created /kaniko on the host")
			}
			routineNothingPushed(t, host, "refused-inproc")
		})
	})

	t.Run("refuses-context-not-on-a-mount", func(t *testing.T) {
		marker := "kaniko-routine-" + routineNonce(t)
		k := routineRootfs(t, executor, bin, true)
		// The project is copied into the root file system, not mounted.
		testenv.CopyTree(t, writeProject(t, routineProject(marker)), filepath.Join(k, "src"))
		before := routineTree(t, k)
		stdout, stderr, err := routineChroot(t, k, "", "/kaniko/devtool", "build", "--builder", "kaniko", "--kaniko-execution=routine",
			"--push", "--devfile", "/src", "--image-registry", host+"/refused-mount", "--var", "BASE="+base)
		routineNoMounts(t, k)
		if err == nil {
			t.Fatalf("devtool build with the context on the container's root file system succeeded\nstdout:\n%s", stdout)
		}
		if !strings.Contains(stderr, "the build context /src is neither on a mounted volume nor below /kaniko") {
			t.Errorf("stderr does not give the mount-point refusal:\n%s", stderr)
		}
		if after := routineTree(t, k); !slices.Equal(before, after) {
			t.Errorf("the refused build changed the root file system:\nbefore %v\nafter  %v", before, after)
		}
		routineNothingPushed(t, host, "refused-mount")
	})
}

// routineNeeds returns the kaniko executor binary, or skips the test (fails it under
// $DEVTOOL_REQUIRE_TESTENV=1) when not root or something is missing.
func routineNeeds(t *testing.T) string {
	t.Helper()
	miss := func(format string, args ...any) {
		t.Helper()
		if testenv.Required() {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if os.Geteuid() != 0 {
		miss("in-container kaniko runs in an unshare + chroot root file system, which needs root")
	}
	for _, tool := range []string{"unshare", "chroot", "mount", "sh", "env"} {
		if _, err := exec.LookPath(tool); err != nil {
			miss("%s is not installed: %v", tool, err)
		}
	}
	executor, err := testenv.KanikoExecutor()
	if err != nil {
		miss("%v", err)
	}
	return executor
}

// routineProject is a devfile project with one image component whose Dockerfile (FROM the
// BASE variable) RUNs a command that writes /<marker>.
func routineProject(marker string) map[string]string {
	nonce := strings.TrimPrefix(marker, "kaniko-routine-")
	return map[string]string{
		"Dockerfile": "ARG BASE\nFROM ${BASE}\nRUN echo ran " + nonce + " > /" + marker + "\n",
		"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: routine}
variables:
  BASE: placeholder
components:
  - name: img
    image: {imageName: app, dockerfile: {uri: Dockerfile, buildContext: ., args: ["BASE={{BASE}}"]}}
`,
	}
}

func routineNonce(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// routineRootfs makes a throw-away root file system: /kaniko/executor, /kaniko/devtool, an
// empty /kaniko/.docker/config.json, mount points /dev /proc /workspace, /tmp, /root and, when
// container is set, podman's marker /run/.containerenv. It is removed at the end of the test,
// but only when nothing is mounted below it any more (a leftover bind mount of /dev would
// otherwise have the machine's device nodes removed).
func routineRootfs(t *testing.T, executor, devtoolBin string, container bool) string {
	t.Helper()
	k, err := os.MkdirTemp("", "devtool-kaniko-routine-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if left := routineMountsUnder(t, k); len(left) > 0 {
			t.Errorf("mounts left under %s: %v; unmounting them", k, left)
			slices.Reverse(left)
			for _, m := range left {
				_ = exec.Command("umount", "--lazy", m).Run()
			}
			if left := routineMountsUnder(t, k); len(left) > 0 {
				t.Errorf("still mounted, so %s is left in place: %v", k, left)
				return
			}
		}
		if err := os.RemoveAll(k); err != nil {
			t.Errorf("removing %s: %v", k, err)
		}
		if _, err := os.Stat(k); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there after the test (err %v)", k, err)
		}
	})
	for _, d := range []string{"kaniko/.docker", "workspace", "proc", "dev", "tmp", "run", "root"} {
		if err := os.MkdirAll(filepath.Join(k, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(k, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	routineCopy(t, executor, filepath.Join(k, "kaniko", "executor"))
	routineCopy(t, devtoolBin, filepath.Join(k, "kaniko", "devtool"))
	files := map[string]string{"kaniko/.docker/config.json": "{}\n"}
	if container {
		files["run/.containerenv"] = ""
	}
	for f, c := range files {
		if err := os.WriteFile(filepath.Join(k, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func routineCopy(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// routineChrootScript runs in new mount and PID namespaces with private propagation: it
// mounts /dev, a /proc of the new PID namespace and (unless $2 is empty) the project at
// /workspace into the root file system $1, and execs the rest of its arguments chrooted
// there. The mounts exist only in that mount namespace and vanish with it.
const routineChrootScript = `set -e
k=$1; project=$2; shift 2
mount --rbind /dev "$k/dev"
mount -t proc proc "$k/proc"
if [ -n "$project" ]; then mount --bind "$project" "$k/workspace"; fi
exec chroot "$k" "$@"`

// routineChroot runs args in the root file system k (see routineChrootScript) with kaniko's
// image environment and nothing of the test's, and returns its stdout and stderr.
func routineChroot(t *testing.T, k, project string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmdline := append([]string{"-i", "HOME=/root", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/kaniko",
		"DOCKER_CONFIG=/kaniko/.docker/", "unshare", "--mount", "--pid", "--kill-child", "--propagation", "private",
		"sh", "-c", routineChrootScript, "sh", k, project}, args...)
	cmd := exec.CommandContext(ctx, "env", cmdline...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("chroot %s: %s (exit: %v)\nstderr:\n%s", k, strings.Join(args, " "), cmd.ProcessState, stderr.String())
	return stdout.String(), stderr.String(), err
}

// routineMountsUnder lists the mount points of this process's mount namespace at or below dir.
func routineMountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 4 {
			m := strings.ReplaceAll(fields[4], `\040`, " ")
			if m == dir || strings.HasPrefix(m, dir+"/") {
				out = append(out, m)
			}
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// routineNoMounts fails the test if anything is still mounted below k on the machine.
func routineNoMounts(t *testing.T, k string) {
	t.Helper()
	if left := routineMountsUnder(t, k); len(left) > 0 {
		t.Errorf("mounts of the chroot run are visible outside its namespace: %v", left)
	}
}

// routineTree lists the files below dir (path, mode, size), leaving out the mount points'
// contents.
func routineTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() && slices.Contains([]string{"dev", "proc", "workspace"}, rel) {
			return fs.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %s %d", rel, info.Mode(), info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// routineNothingPushed fails the test if the registry at host has a repository below prefix.
func routineNothingPushed(t *testing.T, host, prefix string) {
	t.Helper()
	reg, err := name.NewRegistry(host, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	repos, err := remote.Catalog(context.Background(), reg)
	if err != nil {
		t.Fatalf("listing the registry's repositories: %v", err)
	}
	for _, r := range repos {
		if strings.HasPrefix(r, prefix+"/") {
			t.Errorf("a refused build pushed %s/%s", host, r)
		}
	}
}

// routineCgroupContainer is the container marker devtool finds in this machine's
// /proc/self/cgroup (kaniko.InContainer's cgroup rule; a chroot shares the cgroup), or "".
func routineCgroupContainer() string {
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, marker := range []string{"/docker", "/kubepods", "containerd", "libpod", "/lxc/"} {
		if strings.Contains(string(b), marker) {
			return marker
		}
	}
	return ""
}
