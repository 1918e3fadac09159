package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"time"

	library "github.com/devfile/library/v2/pkg/devfile"
	"github.com/devfile/library/v2/pkg/devfile/parser"
	"github.com/devfile/library/v2/pkg/devfile/parser/data/v2/common"

	"github.com/devtool/devtool/pkg/devfile"
)

// remoteRef finds what makes a devfile read the network (http(s) uris, registry urls), and
// registryParent a registry parent in a case's SOURCE.txt (as test/testenv reads it): those
// cases are left out: the bare library would fetch from the registry the devfile names and copy
// the stack's files into the working directory, devtool through its own client and cache
// (docs/remote.md) — not the same work.
var (
	remoteRef      = regexp.MustCompile(`(?m)(registryUrl|uri:\s*["']?https?://)`)
	registryParent = regexp.MustCompile(`(?m)^\s*- parent \{.*"id": "([^"]+)"`)
)

// corpusCases are the project directories of testdata/corpus/dev (each holds devfile.yaml)
// without remote references, and how many were left out.
func corpusCases(root string) (dirs []string, skipped int, err error) {
	base := filepath.Join(root, "testdata", "corpus", "dev")
	entries, err := os.ReadDir(base)
	if err != nil {
		return nil, 0, err
	}
	for _, ent := range entries {
		dir := filepath.Join(base, ent.Name())
		b, err := os.ReadFile(filepath.Join(dir, "devfile.yaml"))
		if err != nil {
			continue
		}
		src, _ := os.ReadFile(filepath.Join(dir, "SOURCE.txt"))
		if remoteRef.Match(b) || registryParent.Match(src) {
			skipped++
			continue
		}
		dirs = append(dirs, dir)
	}
	return dirs, skipped, nil
}

// loadAll is devtool's side: devfile.Load on every case (invalid ones fail, as they should).
func loadAll(ctx context.Context, dirs []string) {
	for _, d := range dirs {
		_, _ = devfile.Load(ctx, d, devfile.LoadOptions{})
	}
}

// bareAll is the bare library's side: what a tool calling devfile/library directly does to read
// and validate a devfile and get its components and commands (odo's
// ParseAndValidateFromFileWithVariables), with the library's defaults except that git
// resources are not downloaded.
func bareAll(dirs []string) {
	no := false
	for _, d := range dirs {
		obj, _, err := library.ParseDevfileAndValidate(parser.ParserArgs{Path: filepath.Join(d, "devfile.yaml"), DownloadGitResources: &no})
		if err != nil || obj.Data == nil {
			continue
		}
		_, _ = obj.Data.GetComponents(common.DevfileOptions{})
		_, _ = obj.Data.GetCommands(common.DevfileOptions{})
	}
}

// inProcess times f in this process: wall and CPU time.
func inProcess(f func()) sample {
	runtime.GC()
	c0 := selfCPU()
	t0 := time.Now()
	f()
	return sample{Wall: time.Since(t0).Seconds(), CPU: selfCPU() - c0}
}

// corpusParse: every corpus devfile through devfile.Load and through the bare library calls,
// in this process, one pass over the corpus per run.
func corpusParse(e *env) scenario {
	dirs, skipped, err := corpusCases(e.root)
	sc := scenario{ID: "corpus-parse", Title: "parse every corpus devfile: devfile.Load vs bare devfile/library", Kind: overhead,
		Targets:    []target{{Peer: "devfile/library ParseDevfileAndValidate", Value: 10}},
		RunsFactor: 4,
		Note:       fmt.Sprintf("%d devfiles of testdata/corpus/dev, in process, one pass per run, 4× -runs runs; %d with registry parents or http uris left out (the bare library would fetch them from the registry they name: not the same work)", len(dirs), skipped)}
	skip := ""
	if err != nil || len(dirs) == 0 {
		skip = fmt.Sprintf("no corpus: %v", err)
	}
	sc.tools = []*tool{
		{Name: "devfile.Load", Skip: skip, run: func(ctx context.Context, i int) (sample, error) {
			return inProcess(func() { loadAll(ctx, dirs) }), nil
		}},
		{Name: "devfile/library ParseDevfileAndValidate", Skip: skip, run: func(ctx context.Context, i int) (sample, error) {
			return inProcess(func() { bareAll(dirs) }), nil
		}},
	}
	sc.profile = func(ctx context.Context, path string) (string, error) {
		// What Load spends outside the library's parser, and how often it calls the parser.
		return profile(path, func() error {
			for range profileRuns {
				loadAll(ctx, dirs)
			}
			return nil
		}, []string{"-peek", `devtool/pkg/devfile\.Load$`}, []string{"-top", "-cum", "-nodecount=20", "-focus=devtool/pkg/devfile"})
	}
	return sc
}
