package event

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// TTYSink is the progress view for a person at a terminal (--progress=auto on a TTY): the
// lines TextSink prints scroll as usual, and below them a live block shows every running step
// with a spinner, its elapsed time and the last line of its tool's output (an engine's build
// output, which TextSink hides without -v), redrawn ten times a second. Colour unless NO_COLOR
// (the caller decides). Close stops the redraws and removes the block. Safe for concurrent use.
type TTYSink struct {
	mu      sync.Mutex
	w       io.Writer
	width   int
	color   bool
	verbose bool

	running []*running
	drawn   int // lines of the live block on screen
	frame   int
	stop    chan struct{}
	done    chan struct{}
	closed  bool
}

type running struct {
	step, message, last string
	start               time.Time
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// NewTTYSink returns a TTYSink writing to w, a terminal width columns wide (≤ 0: 80).
func NewTTYSink(w io.Writer, width int, color, verbose bool) *TTYSink {
	if width <= 0 {
		width = 80
	}
	s := &TTYSink{w: w, width: width, color: color, verbose: verbose, stop: make(chan struct{}), done: make(chan struct{})}
	go s.tick()
	return s
}

func (s *TTYSink) tick() {
	defer close(s.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			if len(s.running) > 0 {
				s.frame++
				s.redraw("")
			}
			s.mu.Unlock()
		}
	}
}

// Close stops the live block and erases it; later events print as plain lines.
func (s *TTYSink) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	<-s.done
	s.mu.Lock()
	s.running = nil
	s.redraw("")
	s.mu.Unlock()
}

func (s *TTYSink) paint(code, text string) string {
	if !s.color {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// Emit implements Sink.
func (s *TTYSink) Emit(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := ""
	if e.Step != "" {
		prefix = s.paint("2", "["+e.Step+"] ")
	}
	line := ""
	switch e.Type {
	case StepStarted:
		if !s.closed {
			s.running = append(s.running, &running{step: e.Step, message: e.Message, start: time.Now()})
		}
		line = prefix + e.Message
	case StepSucceeded, StepFailed:
		for i, r := range s.running {
			if r.step == e.Step {
				s.running = append(s.running[:i], s.running[i+1:]...)
				break
			}
		}
		if e.Type == StepSucceeded {
			line = prefix + s.paint("32", "✓") + " " + e.Message
		} else {
			line = prefix + s.paint("31", "✗") + " " + e.Message
		}
	case Log:
		for _, r := range s.running {
			if r.step == e.Step {
				r.last = e.Message
			}
		}
		if s.verbose {
			line = prefix + "  " + e.Message
		}
	case Warning:
		line = prefix + s.paint("33", "warning:") + " " + e.Message
	default:
		line = prefix + e.Message
	}
	s.redraw(line)
}

// redraw erases the live block, prints line (if any) above it, and draws the block again.
// Called with s.mu held. One Write per redraw, so the terminal never shows half a frame.
func (s *TTYSink) redraw(line string) {
	var b strings.Builder
	if s.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\r\x1b[J", s.drawn)
	}
	if line != "" {
		b.WriteString(line + "\n")
	}
	s.drawn = 0
	for _, r := range s.running {
		el := time.Since(r.start).Truncate(100 * time.Millisecond)
		// The step's message was printed when it started: the block shows what it does now.
		now := r.message
		if r.last != "" {
			now = r.last
		}
		text := fmt.Sprintf("%s %s %s  %s", spinner[s.frame%len(spinner)], r.step, el, now)
		b.WriteString(s.paint("36", clipTo(text, s.width-1)) + "\n")
		s.drawn++
	}
	if b.Len() > 0 {
		_, _ = io.WriteString(s.w, b.String())
	}
}

// clipTo shortens s to at most n runes (terminal columns, for the text devtool writes).
func clipTo(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	if n < 1 {
		return ""
	}
	return string(r[:n-1]) + "…"
}
