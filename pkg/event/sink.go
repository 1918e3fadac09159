package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// TextSink writes events as human-readable lines: "[step] message". Log lines are indented
// under their step. Safe for concurrent use; each event is written with one Write call, so
// lines from parallel steps never interleave mid-line.
type TextSink struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
}

// NewTextSink returns a TextSink writing to w (stderr). Without verbose, Log events (raw
// builder output) are dropped except for failed steps' tails, which the error carries anyway.
func NewTextSink(w io.Writer, verbose bool) *TextSink {
	return &TextSink{w: w, verbose: verbose}
}

// Emit implements Sink.
func (s *TextSink) Emit(e Event) {
	var line string
	prefix := ""
	if e.Step != "" {
		prefix = "[" + e.Step + "] "
	}
	switch e.Type {
	case Log:
		if !s.verbose {
			return
		}
		line = prefix + "  " + e.Message
	case StepStarted:
		line = prefix + e.Message
	case StepSucceeded:
		line = prefix + "✓ " + e.Message
	case StepFailed:
		line = prefix + "✗ " + e.Message
	case Warning:
		line = prefix + "warning: " + e.Message
	default:
		line = prefix + e.Message
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintln(s.w, line)
}

// JSONSink writes one JSON object per event (NDJSON), for --progress=json.
type JSONSink struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSONSink returns a JSONSink writing to w.
func NewJSONSink(w io.Writer) *JSONSink {
	return &JSONSink{enc: json.NewEncoder(w)}
}

// Emit implements Sink.
func (s *JSONSink) Emit(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.enc.Encode(e)
}

// LineWriter returns an io.Writer that calls fn once per complete line written to it (without
// the newline; "\r" treated as a line end too, for progress bars). A trailing partial line is
// delivered when a later write completes it; callers that need it flushed write "\n".
func LineWriter(fn func(line string)) io.Writer {
	return &lineWriter{fn: fn}
}

type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexAny(w.buf, "\r\n")
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		if line != "" {
			w.fn(line)
		}
	}
	return len(p), nil
}
