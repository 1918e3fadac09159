// Package schema validates devtool's JSON documents and progress events against the JSON
// Schemas published in docs/schemas (issue 10: a versioned JSON contract), for tests.
package schema

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Dir is docs/schemas of this checkout.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "docs", "schemas")
}

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	loadErr  error
)

func load() (map[string]*jsonschema.Schema, error) {
	once.Do(func() {
		files, err := filepath.Glob(filepath.Join(Dir(), "*.json"))
		if err != nil || len(files) == 0 {
			loadErr = fmt.Errorf("no schemas in %s: %v", Dir(), err)
			return
		}
		c := jsonschema.NewCompiler()
		compiled = map[string]*jsonschema.Schema{}
		for _, f := range files {
			s, err := c.Compile(f)
			if err != nil {
				loadErr = fmt.Errorf("compiling %s: %w", f, err)
				return
			}
			compiled[strings.TrimSuffix(filepath.Base(f), ".json")] = s
		}
	})
	return compiled, loadErr
}

// Document validates one JSON document against the schema of its "kind" ("List", the kubectl
// list render prints, is not devtool's and is skipped). Errors name the kind and the failing
// location.
func Document(doc []byte) error {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("not a JSON object")
	}
	kind, _ := m["kind"].(string)
	if kind == "List" && m["apiVersion"] == "v1" {
		return nil
	}
	return validate(kind, v)
}

// Events validates every line of an NDJSON --progress=json stream against the Event schema
// and returns how many it checked.
func Events(ndjson []byte) (int, error) {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			return n, fmt.Errorf("event %d is not JSON: %w: %s", n+1, err, line)
		}
		if err := validate("Event", v); err != nil {
			return n, fmt.Errorf("event %d: %w: %s", n+1, err, line)
		}
		n++
	}
	return n, sc.Err()
}

func validate(kind string, v any) error {
	schemas, err := load()
	if err != nil {
		return err
	}
	s, ok := schemas[kind]
	if !ok {
		return fmt.Errorf("no schema for kind %q in %s", kind, Dir())
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s does not match docs/schemas/%s.json: %v", kind, kind, err)
	}
	return nil
}

// Exists reports whether docs/schemas has a schema for kind.
func Exists(kind string) bool {
	_, err := os.Stat(filepath.Join(Dir(), kind+".json"))
	return err == nil
}
