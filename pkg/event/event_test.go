package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLineWriter(t *testing.T) {
	var got []string
	w := LineWriter(func(l string) { got = append(got, l) })
	for _, chunk := range []string{"one\ntw", "o\r\nthree", "\n", "partial"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"one", "two", "three"}, got); diff != "" {
		t.Error(diff)
	}
}

func TestJSONSink(t *testing.T) {
	var buf bytes.Buffer
	s := NewJSONSink(&buf)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Emit(Event{Time: ts, Type: StepStarted, Step: "build-image", Kind: "build", Message: "building"})
	s.Emit(Event{Time: ts, Type: Info, Message: "hi", Fields: map[string]string{"cached": "true"}})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 NDJSON lines, got %q", buf.String())
	}
	want := `{"time":"2026-01-02T03:04:05Z","type":"stepStarted","step":"build-image","kind":"build","message":"building"}`
	if lines[0] != want {
		t.Errorf("line 0 = %s\nwant     %s", lines[0], want)
	}
	var e Event
	if err := json.Unmarshal([]byte(lines[1]), &e); err != nil || e.Fields["cached"] != "true" {
		t.Errorf("line 1 = %s (%v)", lines[1], err)
	}
}

func TestTextSink(t *testing.T) {
	var buf bytes.Buffer
	s := NewTextSink(&buf, false)
	s.Emit(Event{Type: StepStarted, Step: "b", Message: "building"})
	s.Emit(Event{Type: Log, Step: "b", Message: "raw output"})
	s.Emit(Event{Type: StepSucceeded, Step: "b", Message: "done"})
	want := "[b] building\n[b] ✓ done\n"
	if buf.String() != want {
		t.Errorf("got %q want %q", buf.String(), want)
	}
}
