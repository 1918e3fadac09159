package event

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTTYSink: a running step shows a spinner line with its tool's last output line (hidden
// by the plain sink without -v), the block is erased before every permanent line, and Close
// leaves only the permanent lines.
func TestTTYSink(t *testing.T) {
	var buf syncBuffer
	s := NewTTYSink(&buf, 60, false, false)
	s.Emit(Event{Type: StepStarted, Step: "build", Message: "building image"})
	s.Emit(Event{Type: Log, Step: "build", Message: "STEP 2/3: RUN make"})
	time.Sleep(250 * time.Millisecond) // a few redraws
	s.Emit(Event{Type: StepSucceeded, Step: "build", Message: "done in 1.0s"})
	s.Close()
	out := buf.String()
	if !strings.Contains(out, "build 0s  building image") || !strings.Contains(out, "ms  STEP 2/3: RUN make") {
		t.Errorf("no live line with the step and its last output:\n%q", out)
	}
	if !strings.Contains(out, "\x1b[1A\r\x1b[J") {
		t.Errorf("the live block is never erased:\n%q", out)
	}
	// What a terminal shows at the end: apply the erase sequences.
	screen := render(out)
	want := "[build] building image\n[build] ✓ done in 1.0s\n"
	if screen != want {
		t.Errorf("final screen:\n%q\nwant\n%q", screen, want)
	}
	for _, l := range strings.Split(out, "\n") {
		if len([]rune(stripEscapes(l))) > 60 {
			t.Errorf("line wider than the terminal: %q", l)
		}
	}
}

// render applies "ESC[nA CR ESC[J" (up n lines, clear to the end) to the lines written so far.
func render(out string) string {
	var lines []string
	for len(out) > 0 {
		if strings.HasPrefix(out, "\x1b[") {
			end := strings.IndexAny(out, "AJm")
			code := out[2:end]
			if out[end] == 'A' {
				n := 0
				for _, c := range code {
					n = n*10 + int(c-'0')
				}
				lines = lines[:len(lines)-n]
			}
			out = out[end+1:]
			continue
		}
		if out[0] == '\r' {
			out = out[1:]
			continue
		}
		i := strings.IndexByte(out, '\n')
		lines = append(lines, out[:i])
		out = out[i+1:]
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

func stripEscapes(s string) string {
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			return s
		}
		j := strings.IndexAny(s[i:], "AJm")
		s = s[:i] + s[i+j+1:]
	}
}
