package main

import (
	"context"
	"fmt"
	"math"
	"sort"
)

// sample is one timed run of one tool.
type sample struct {
	// Wall is the elapsed time in seconds.
	Wall float64 `json:"wallSeconds"`
	// CPU is the client's user+system CPU time in seconds (rusage of the process, or of this
	// process for in-process runs).
	CPU float64 `json:"cpuSeconds"`
	// ServerCPU is the API server's CPU time in seconds during the run (0: none or unknown).
	ServerCPU float64 `json:"serverCpuSeconds"`
	// MaxRSSKB is the client's peak resident set in KiB (0 for in-process runs).
	MaxRSSKB int64 `json:"maxRssKiB,omitempty"`
}

// tool is one side of a scenario: devtool, or a peer.
type tool struct {
	Name string
	// Skip says why the tool is not measured (its binary is missing); the scenario reports it.
	Skip string
	// prepare runs untimed before run i (i < 0: the warm-up).
	prepare func(ctx context.Context, i int) error
	// run is one timed run.
	run func(ctx context.Context, i int) (sample, error)
}

// kind says how a scenario compares devtool with a peer.
type kind string

const (
	// ratio: peer/devtool of the median wall times; the target is a minimum ratio.
	ratio kind = "ratio"
	// overhead: devtool/peer − 1 in %, the peer being what devtool runs underneath; the target
	// is a maximum.
	overhead kind = "overhead"
)

// target is what the issue asks of devtool against one peer (zero Value: none).
type target struct {
	Peer  string  `json:"peer"`
	Value float64 `json:"value"` // minimum ratio, or maximum overhead in %
}

// scenario is one row group of the report: devtool (tools[0]) and its peers.
type scenario struct {
	ID, Title string
	Kind      kind
	Targets   []target
	Note      string
	// RunsFactor multiplies the number of timed runs (0: 1): for cheap, noisy in-process runs.
	RunsFactor int
	tools      []*tool
	// profile, when set, runs devtool's side in process under the CPU profiler, writes the
	// profile to path and returns its top functions.
	profile func(ctx context.Context, path string) (string, error)
	// note, when set, is computed after the runs and added to Note.
	note func(ctx context.Context) string
}

// toolResult is one tool's runs and medians.
type toolResult struct {
	Name    string   `json:"name"`
	Skipped string   `json:"skipped,omitempty"`
	Runs    []sample `json:"runs,omitempty"`
	Median  sample   `json:"median"`
	// Min is the fastest run: on a busy machine the least disturbed one.
	Min sample `json:"min"`
}

// comparison is devtool against one peer.
type comparison struct {
	Peer string `json:"peer"`
	// Ratio is the peer's median wall time over devtool's (how many times faster devtool is);
	// for overhead scenarios OverheadPct is devtool's median over the peer's, −1, in %.
	Ratio       float64  `json:"ratio,omitempty"`
	OverheadPct *float64 `json:"overheadPct,omitempty"`
	// MinOverheadPct is the overhead of the fastest runs (overhead scenarios): less noisy where
	// the machine is shared.
	MinOverheadPct *float64 `json:"minOverheadPct,omitempty"`
	Target         *float64 `json:"target,omitempty"`
	Met            *bool    `json:"met,omitempty"`
	Skipped        string   `json:"skipped,omitempty"`
}

// result is one measured scenario.
type result struct {
	ID          string       `json:"id"`
	Title       string       `json:"title"`
	Kind        kind         `json:"kind"`
	Note        string       `json:"note,omitempty"`
	Tools       []toolResult `json:"tools"`
	Comparisons []comparison `json:"comparisons"`
	Profile     string       `json:"profileTop,omitempty"`
}

func (r result) missed() bool {
	for _, c := range r.Comparisons {
		if c.Met != nil && !*c.Met {
			return true
		}
	}
	return false
}

// measure runs sc: one untimed warm-up per tool, then runs timed runs per tool, alternating
// the tools and reversing their order every other round (ABBA), so that drift of a shared
// machine hits every tool alike.
func measure(ctx context.Context, sc scenario, runs int, logf func(string, ...any)) (result, error) {
	res := result{ID: sc.ID, Title: sc.Title, Kind: sc.Kind, Note: sc.Note}
	samples := make([][]sample, len(sc.tools))
	active := []int{}
	for i, t := range sc.tools {
		if t.Skip == "" {
			active = append(active, i)
		}
	}
	one := func(ti, i int) error {
		t := sc.tools[ti]
		if t.prepare != nil {
			if err := t.prepare(ctx, i); err != nil {
				return fmt.Errorf("%s: preparing run %d: %w", t.Name, i, err)
			}
		}
		s, err := t.run(ctx, i)
		if err != nil {
			return fmt.Errorf("%s: run %d: %w", t.Name, i, err)
		}
		if i >= 0 {
			samples[ti] = append(samples[ti], s)
		}
		return nil
	}
	for _, ti := range active {
		if err := one(ti, -1); err != nil {
			return res, err
		}
	}
	runs *= max(sc.RunsFactor, 1)
	for i := 0; i < runs; i++ {
		order := append([]int(nil), active...)
		if i%2 == 1 {
			for l, r := 0, len(order)-1; l < r; l, r = l+1, r-1 {
				order[l], order[r] = order[r], order[l]
			}
		}
		for _, ti := range order {
			if err := one(ti, i); err != nil {
				return res, err
			}
		}
	}
	for ti, t := range sc.tools {
		tr := toolResult{Name: t.Name, Skipped: t.Skip, Runs: samples[ti]}
		if len(samples[ti]) > 0 {
			tr.Median, tr.Min = medianSample(samples[ti]), minSample(samples[ti])
			logf("  %-40s median %.3fs (cpu %.3fs, API server cpu %.3fs)", t.Name, tr.Median.Wall, tr.Median.CPU, tr.Median.ServerCPU)
		} else {
			logf("  %-40s skipped: %s", t.Name, t.Skip)
		}
		res.Tools = append(res.Tools, tr)
	}
	res.Comparisons = compare(sc, res.Tools)
	if sc.note != nil {
		if res.Note != "" {
			res.Note += "; "
		}
		res.Note += sc.note(ctx)
	}
	return res, nil
}

// compare computes devtool (tools[0]) against every peer.
func compare(sc scenario, tools []toolResult) []comparison {
	var out []comparison
	dev := tools[0]
	for _, p := range tools[1:] {
		c := comparison{Peer: p.Name}
		for _, tg := range sc.Targets {
			if tg.Peer == p.Name && tg.Value != 0 {
				v := tg.Value
				c.Target = &v
			}
		}
		switch {
		case p.Skipped != "":
			c.Skipped = p.Skipped
		case dev.Skipped != "" || dev.Median.Wall == 0 || p.Median.Wall == 0:
			c.Skipped = "devtool not measured"
		case sc.Kind == overhead:
			o := (dev.Median.Wall/p.Median.Wall - 1) * 100
			c.OverheadPct = &o
			if dev.Min.Wall > 0 && p.Min.Wall > 0 {
				m := (dev.Min.Wall/p.Min.Wall - 1) * 100
				c.MinOverheadPct = &m
			}
			c.Ratio = p.Median.Wall / dev.Median.Wall
			if c.Target != nil {
				met := o <= *c.Target
				c.Met = &met
			}
		default:
			c.Ratio = p.Median.Wall / dev.Median.Wall
			if c.Target != nil {
				met := c.Ratio >= *c.Target
				c.Met = &met
			}
		}
		out = append(out, c)
	}
	return out
}

// median is the middle value (the mean of the two middle ones for an even count); NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianSample is the median of each field (the peak RSS is the largest).
func medianSample(ss []sample) sample {
	pick := func(f func(sample) float64) float64 {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = f(s)
		}
		return median(xs)
	}
	var rss int64
	for _, s := range ss {
		rss = max(rss, s.MaxRSSKB)
	}
	return sample{
		Wall:      pick(func(s sample) float64 { return s.Wall }),
		CPU:       pick(func(s sample) float64 { return s.CPU }),
		ServerCPU: pick(func(s sample) float64 { return s.ServerCPU }),
		MaxRSSKB:  rss,
	}
}

// minSample is the run with the smallest wall time.
func minSample(ss []sample) sample {
	m := ss[0]
	for _, s := range ss[1:] {
		if s.Wall < m.Wall {
			m = s
		}
	}
	return m
}
