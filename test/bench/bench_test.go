package main

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/test/testenv"
)

// The harness itself is run by `make bench`; these tests check its arithmetic and output, never
// a time.

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, 2, 9, 1, 2}, 2},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
}

func TestCompare(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	b := func(v bool) *bool { return &v }
	tools := []toolResult{
		{Name: "devtool", Median: sample{Wall: 2}},
		{Name: "fast peer", Median: sample{Wall: 10}},
		{Name: "slow target", Median: sample{Wall: 4}},
		{Name: "missing", Skipped: "X_BIN not set"},
	}
	sc := scenario{Kind: ratio, Targets: []target{{Peer: "fast peer", Value: 3}, {Peer: "slow target", Value: 3}, {Peer: "missing", Value: 10}}}
	want := []comparison{
		{Peer: "fast peer", Ratio: 5, Target: f(3), Met: b(true)},
		{Peer: "slow target", Ratio: 2, Target: f(3), Met: b(false)},
		{Peer: "missing", Target: f(10), Skipped: "X_BIN not set"},
	}
	if diff := cmp.Diff(want, compare(sc, tools)); diff != "" {
		t.Errorf("ratio comparisons (-want +got):\n%s", diff)
	}

	sc = scenario{Kind: overhead, Targets: []target{{Peer: "raw", Value: 5}}}
	got := compare(sc, []toolResult{{Name: "devtool", Median: sample{Wall: 1.1}}, {Name: "raw", Median: sample{Wall: 1}}})
	if len(got) != 1 || got[0].OverheadPct == nil || math.Abs(*got[0].OverheadPct-10) > 1e-9 || got[0].Met == nil || *got[0].Met {
		t.Errorf("overhead comparison = %+v, want 10 %% overhead, target 5 %% missed", got)
	}
}

func TestMarkdown(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	b := func(v bool) *bool { return &v }
	r := &report{Runs: 5, Scenarios: []result{
		{ID: "objects200-cold", Title: "200 objects", Kind: ratio,
			Tools:       []toolResult{{Name: "devtool deploy", Median: sample{Wall: 1.5, CPU: 0.3, ServerCPU: 0.9, MaxRSSKB: 80 << 10}}, {Name: "kubectl", Median: sample{Wall: 9, MaxRSSKB: 120 << 10}}},
			Comparisons: []comparison{{Peer: "kubectl", Ratio: 6, Target: f(3), Met: b(true)}}},
		{ID: "x", Title: "odo only", Kind: ratio, Note: "a note",
			Tools:       []toolResult{{Name: "devtool", Median: sample{Wall: 0.2}}, {Name: "odo", Skipped: "ODO_BIN not set"}},
			Comparisons: []comparison{{Peer: "odo", Target: f(10), Skipped: "ODO_BIN not set"}}},
	}}
	r.addRSS()
	var out strings.Builder
	r.markdown(&out)
	for _, want := range []string{
		"| 200 objects | 1.50 s | kubectl | 9.00 s | 6.00× | ≥ 3× | met |",
		"| odo only | 200 ms | odo | skipped: ODO_BIN not set | — | ≥ 10× | not measured |",
		"| peak RSS of a deploy (200 objects, cold) | 80 MiB | kubectl | 120 MiB | 1.50× (peer RSS / devtool RSS) | — |  |",
		"| objects200-cold | devtool deploy | 1.50 s | 300 ms | 900 ms | 80 MiB |",
		"- x: a note",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, out.String())
		}
	}
}

func TestObjects200(t *testing.T) {
	objs, err := deploy.Decode(objects200Manifests("127.0.0.1:5000/base/busybox:latest"), "objects.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
	}
	if diff := cmp.Diff(map[string]int{"ConfigMap": 50, "Secret": 50, "Service": 50, "Deployment": 50}, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
}

func TestCorpusCases(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	testenv.CorpusDir(t) // skips without a corpus
	dirs, skipped, err := corpusCases(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 || skipped == 0 {
		t.Errorf("corpusCases: %d cases, %d skipped; want both (the corpus has registry parents)", len(dirs), skipped)
	}
}

func TestParseInitTrace(t *testing.T) {
	trace := `init internal/bytealg @0.003 ms, 0 ms clock, 0 bytes, 0 allocs
init k8s.io/client-go/kubernetes/scheme @12 ms, 9.8 ms clock, 5589 bytes, 40 allocs
usage: devtool
init github.com/devtool/devtool/pkg/cli @40 ms, 0.018 ms clock, 19032 bytes, 192 allocs
`
	want := map[string]float64{"internal/bytealg": 0, "k8s.io/client-go/kubernetes/scheme": 9.8, "github.com/devtool/devtool/pkg/cli": 0.018}
	if diff := cmp.Diff(want, parseInitTrace(trace)); diff != "" {
		t.Errorf("parseInitTrace (-want +got):\n%s", diff)
	}
}

// BenchmarkCorpusParse is the corpus-parse scenario as a Go benchmark, for pprof
// (go test -run '^$' -bench CorpusParse -cpuprofile cpu.out ./test/bench): one pass over the
// same corpus cases per iteration, through devfile.Load and through the bare library calls.
func BenchmarkCorpusParse(b *testing.B) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		b.Fatal(err)
	}
	testenv.CorpusDir(b) // skips without a corpus
	dirs, _, err := corpusCases(root)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			loadAll(b.Context(), dirs)
		}
	})
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			bareAll(dirs)
		}
	})
}

func TestKanikoPodSkipped(t *testing.T) {
	e := &env{buildah: "/usr/bin/buildah", kaniko: kanikoNode{err: errors.New("the test node needs root")}}
	sc := kanikoPod(e)
	if sc.ID != "kaniko-pod" || sc.Kind != overhead || len(sc.Targets) != 0 {
		t.Errorf("kaniko-pod = %q, %s, targets %v; want an overhead scenario without a target", sc.ID, sc.Kind, sc.Targets)
	}
	if len(sc.tools) != 2 {
		t.Fatalf("kaniko-pod has %d tools, want 2", len(sc.tools))
	}
	for _, tl := range sc.tools {
		if !strings.Contains(tl.Skip, "no test node: the test node needs root") {
			t.Errorf("%s: Skip = %q, want the node's error", tl.Name, tl.Skip)
		}
	}
}
