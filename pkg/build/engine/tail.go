package engine

import (
	"bytes"
	"strings"
)

// maxLineBytes bounds one remembered line (progress bars can print megabytes without "\n").
const maxLineBytes = 4096

// tailWriter remembers the last max lines written to it, for build.ExecError.Output. A "\r"
// inside a line (progress redraws) keeps only the text after the last one.
type tailWriter struct {
	max     int
	lines   []string
	partial []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.appendPartial(p)
			break
		}
		t.appendPartial(p[:i])
		t.push(t.partial)
		t.partial = t.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (t *tailWriter) appendPartial(b []byte) {
	if room := maxLineBytes - len(t.partial); room < len(b) {
		b = b[:max(room, 0)]
	}
	t.partial = append(t.partial, b...)
}

func (t *tailWriter) push(line []byte) {
	s := strings.TrimRight(string(line), "\r")
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:]
	}
	t.lines = append(t.lines, s)
	if len(t.lines) > t.max {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-t.max:]...)
	}
}

// String returns the remembered lines joined by "\n", the unterminated last line included.
func (t *tailWriter) String() string {
	lines := t.lines
	if len(t.partial) > 0 {
		lines = append(append([]string(nil), lines...), strings.TrimRight(string(t.partial), "\r"))
		if len(lines) > t.max {
			lines = lines[len(lines)-t.max:]
		}
	}
	return strings.Join(lines, "\n")
}
