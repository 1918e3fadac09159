// Package event carries devtool's progress as data: the runner emits Events, and a Sink renders
// them as ordered, prefixed text lines (humans, on stderr) or as NDJSON (IDE extensions,
// --progress=json). Backends never print; they write raw tool output to an io.Writer that the
// runner turns into Log events.
package event

import (
	"time"
)

// Type names what happened. The values are part of the --progress=json contract and only ever
// gain members.
type Type string

// Event types, in the order a step emits them: StepStarted, any number of Log/Info/Warning,
// then exactly one of StepSucceeded or StepFailed.
const (
	StepStarted   Type = "stepStarted"
	StepSucceeded Type = "stepSucceeded"
	StepFailed    Type = "stepFailed"
	Log           Type = "log"
	Info          Type = "info"
	Warning       Type = "warning"
	// Error is the last event of a failed run: Message says what went wrong, Fields "code"
	// and "exitCode" classify it (as the JSON Error document does).
	Error Type = "error"
)

// Event is one progress record. Step is the plan step ID ("" for run-level messages), Kind is the
// step kind ("build", "apply", …). Fields are camelCase in JSON and only ever gain members.
type Event struct {
	Time    time.Time         `json:"time"`
	Type    Type              `json:"type"`
	Step    string            `json:"step,omitempty"`
	Kind    string            `json:"kind,omitempty"`
	Message string            `json:"message,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// Sink receives events. Implementations must be safe for concurrent use: parallel steps emit
// from several goroutines.
type Sink interface {
	Emit(e Event)
}
