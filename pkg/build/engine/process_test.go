package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devtool/devtool/pkg/build"
)

// Processes returns the pids of the live (not zombie) processes whose command line is argv
// (argv[0] compared by base name), read from /proc.
func Processes(t testing.TB, argv ...string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("listing processes: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // exited meanwhile
		}
		got := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(got) != len(argv) || filepath.Base(got[0]) != argv[0] || strings.Join(got[1:], "\x00") != strings.Join(argv[1:], "\x00") {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil || strings.Contains(string(status), "\nState:\tZ") {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// TestCancelKillsProcessGroup: a cancelled engine command takes what it started with it, even
// processes that ignore SIGINT and outlive the engine (a stand-in engine, sh, shows both).
func TestCancelKillsProcessGroup(t *testing.T) {
	tests := []struct {
		name   string
		script string // run by sh; "$1" is the sleep's unique duration
	}{
		{"engine ignores SIGINT", `trap "" INT; sleep "$1" & echo started; wait`},
		{"engine exits, child ignores SIGINT", `sleep "$1" & echo started; wait`}, // sh ignores SIGINT in async lists
		{"foreground child", `echo started; sleep "$1"; echo not reached`},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secs := strconv.Itoa(31400 + i) // unique, to find it in /proc
			e := New(Buildah).(*engine)
			e.cfg.stopGrace = 300 * time.Millisecond
			ctx, cancel := context.WithCancel(t.Context())
			log := &signalWriter{want: "started", seen: make(chan struct{})}
			done := make(chan error, 1)
			go func() {
				_, err := e.run(ctx, "x", []string{"sh", "-c", tc.script, "sh", secs}, log)
				done <- err
			}()
			returned := false
			t.Cleanup(func() { // a failing test must not leave the stand-in running
				cancel()
				if !returned {
					<-done
				}
			})
			select {
			case <-log.seen:
			case err := <-done:
				returned = true
				t.Fatalf("the stand-in engine exited early: %v", err)
			}
			for start := time.Now(); len(Processes(t, "sleep", secs)) == 0; time.Sleep(10 * time.Millisecond) {
				if time.Since(start) > 5*time.Second {
					t.Fatal("the stand-in engine's child is not running")
				}
			}
			cancel()
			err := <-done
			returned = true
			var xe *build.ExecError
			if !errors.As(err, &xe) || !errors.Is(err, context.Canceled) {
				t.Errorf("run error = %v, want an ExecError that Is context.Canceled", err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for len(Processes(t, "sleep", secs)) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("sleep %s still running 5 s after run returned", secs)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// signalWriter closes seen once the text written to it contains want.
type signalWriter struct {
	buf  strings.Builder
	want string
	seen chan struct{}
	done bool
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.want) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}
