package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// report is results.json (apiVersion/kind, camelCase; it only ever gains fields).
type report struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Started    time.Time `json:"started"`
	Elapsed    float64   `json:"elapsedSeconds"`
	Runs       int       `json:"runs"`
	Host       host      `json:"host"`
	Devtool    string    `json:"devtool"`
	Scenarios  []result  `json:"scenarios"`
}

type host struct {
	CPUs    int    `json:"cpus"`
	LoadAvg string `json:"loadAvg,omitempty"`
	GOOS    string `json:"goos"`
	GOARCH  string `json:"goarch"`
}

func hostInfo() host {
	h := host{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		h.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return h
}

// rssScenario is the derived "peak RSS of a deploy" row: the 200-object cold deploy's.
const rssScenario = "rss-deploy"

// addRSS adds the peak RSS comparison from the 200-object cold deploy, when it ran.
func (r *report) addRSS() {
	for _, sc := range r.Scenarios {
		if sc.ID != "objects200-cold" {
			continue
		}
		res := result{ID: rssScenario, Title: "peak RSS of a deploy (200 objects, cold)", Kind: "rss"}
		dev := sc.Tools[0]
		res.Tools = []toolResult{{Name: dev.Name, Median: sample{MaxRSSKB: dev.Median.MaxRSSKB}}}
		for _, p := range sc.Tools[1:] {
			res.Tools = append(res.Tools, toolResult{Name: p.Name, Skipped: p.Skipped, Median: sample{MaxRSSKB: p.Median.MaxRSSKB}})
			c := comparison{Peer: p.Name, Skipped: p.Skipped}
			if p.Skipped == "" && dev.Median.MaxRSSKB > 0 {
				c.Ratio = float64(p.Median.MaxRSSKB) / float64(dev.Median.MaxRSSKB)
			}
			res.Comparisons = append(res.Comparisons, c)
		}
		r.Scenarios = append(r.Scenarios, res)
		return
	}
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func secs(s float64) string {
	switch {
	case s == 0:
		return "—"
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	default:
		return fmt.Sprintf("%.2f s", s)
	}
}

func mib(kb int64) string {
	if kb == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
}

// value is a tool's headline figure: its median wall time, or its peak RSS for the RSS row.
func value(res result, t toolResult) string {
	if t.Skipped != "" {
		return "skipped: " + t.Skipped
	}
	if res.Kind == "rss" {
		return mib(t.Median.MaxRSSKB)
	}
	return secs(t.Median.Wall)
}

func (c comparison) ratioText(k kind) string {
	switch {
	case c.Skipped != "":
		return "—"
	case c.OverheadPct != nil && c.MinOverheadPct != nil:
		return fmt.Sprintf("%+.1f %% overhead (fastest runs: %+.1f %%)", *c.OverheadPct, *c.MinOverheadPct)
	case c.OverheadPct != nil:
		return fmt.Sprintf("%+.1f %% overhead", *c.OverheadPct)
	case k == "rss":
		return fmt.Sprintf("%.2f× (peer RSS / devtool RSS)", c.Ratio)
	default:
		return fmt.Sprintf("%.2f×", c.Ratio)
	}
}

func (c comparison) targetText(k kind) (string, string) {
	if c.Target == nil {
		return "—", ""
	}
	t := fmt.Sprintf("≥ %g×", *c.Target)
	if k == overhead {
		t = fmt.Sprintf("≤ %g %%", *c.Target)
	}
	switch {
	case c.Met == nil:
		return t, "not measured"
	case *c.Met:
		return t, "met"
	default:
		return t, "**missed**"
	}
}

// markdown writes the summary table, the breakdown of where the time goes, and the notes.
func (r *report) markdown(w io.Writer) {
	fmt.Fprintf(w, "## devtool bench — %s, %d CPUs, load %s, median of %d runs, %.0f s in all\n\n", r.Started.Format("2006-01-02 15:04 MST"), r.Host.CPUs, r.Host.LoadAvg, r.Runs, r.Elapsed)
	fmt.Fprintln(w, "| scenario | devtool | peer | peer | peer/devtool | target | |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, res := range r.Scenarios {
		dev := value(res, res.Tools[0])
		if len(res.Comparisons) == 0 {
			fmt.Fprintf(w, "| %s | %s | — | — | — | — | |\n", res.Title, dev)
		}
		for i, c := range res.Comparisons {
			title := res.Title
			if i > 0 {
				title, dev = "″", "″"
			}
			tgt, met := c.targetText(res.Kind)
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", title, dev, c.Peer, value(res, res.Tools[i+1]), c.ratioText(res.Kind), tgt, met)
		}
	}
	fmt.Fprintln(w, "\n### Where the time goes (medians per run)")
	fmt.Fprintln(w, "\n| scenario | tool | wall | client CPU | API server CPU | peak RSS |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, res := range r.Scenarios {
		if res.Kind == "rss" {
			continue
		}
		for _, t := range res.Tools {
			if t.Skipped != "" {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", res.ID, t.Name, secs(t.Median.Wall), secs(t.Median.CPU), secs(t.Median.ServerCPU), mib(t.Median.MaxRSSKB))
		}
	}
	var notes []string
	for _, res := range r.Scenarios {
		if res.Note != "" {
			notes = append(notes, fmt.Sprintf("- %s: %s", res.ID, res.Note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		fmt.Fprintln(w, strings.Join(notes, "\n"))
	}
	for _, res := range r.Scenarios {
		if res.Profile != "" {
			fmt.Fprintf(w, "\n### %s: where devtool's CPU goes (in-process CPU profile)\n\n```\n%s\n```\n", res.ID, strings.TrimSpace(res.Profile))
		}
	}
}
