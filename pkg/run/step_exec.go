package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
)

// The Job of an exec command (odo v3's pkg/component ExecuteInNewContainer): one try and one
// retry, removed by the TTL controller a minute after it finished if devtool could not delete
// it.
const (
	jobBackoffLimit            = 1
	jobTTLSecondsAfterFinished = 60
	jobShell                   = "/bin/sh"
)

// ExecResult is one exec command of a deploy, run as a Kubernetes Job.
type ExecResult struct {
	// Command is the exec command's id (its step ID).
	Command string `json:"command"`
	// Component is the container component whose image runs it.
	Component string `json:"component"`
	// Image is the image the Job ran (pinned by digest when a build of the deploy produced it).
	Image string `json:"image"`
	deploy.JobResult
}

// execKind runs an exec command of a deploy in a Kubernetes Job from its container
// component's image (odo v3's behaviour; design.md §3).
type execKind struct{}

type execStep struct {
	step   plan.Step
	job    *unstructured.Unstructured // rendered once, images as placeholders
	source string
	name   string // Job name
}

func (e *execStep) plan() plan.Step { return e.step }

func (e *execStep) describe() string {
	return fmt.Sprintf("running exec command %q in a Kubernetes Job (container component %q)", e.step.Command, e.step.Component)
}

// objects are the step's Job: checked by the preflight, never a member of the inventory, and
// not compared by diff (deploy deletes and re-creates it on every run, and deletes it after it
// succeeded, so it is not part of the deployed state).
func (e *execStep) objects(pp *prepared, refs map[string]string) stepObjects {
	return stepObjects{
		Jobs: pp.pin([]*unstructured.Unstructured{e.job}, refs), JobSources: []string{e.source},
		DiffNote: fmt.Sprintf("exec command %q is not compared: deploy runs it in a new Job %s each time", e.step.Command, e.name),
	}
}

func (execKind) prepare(_ context.Context, pc *prepareContext, s plan.Step, _ *devfile.Component) (step, error) {
	job, source, err := renderJob(pc, s)
	if err != nil {
		return nil, err
	}
	return &execStep{step: s, job: job, source: source, name: job.GetName()}, nil
}

// renderJob renders the Job of exec step s (a command of a container component), odo v3's way:
//
//   - name <devfile name>-<command id> (a DNS label: lowercased, other characters "-", at most
//     63 characters, shortened with a hash suffix when longer), the project labels on the Job
//     (not on its Pods: a Service of the project must not select them);
//   - backoffLimit 1, ttlSecondsAfterFinished 60, restartPolicy Never (a failed try leaves its
//     Pod for the logs, and the retry gets a new one);
//   - one container named after the component, with its image (pinned to the build of the
//     deploy that produced it, as manifests are), env, and memory/CPU limits and requests;
//     command /bin/sh, args -c "[cd <workingDir> && ][export K="v"… && ]<commandLine>".
//
// Variables are substituted in the image, the env values, the resources, commandLine and
// workingDir. Images of the builds s depends on are placeholders (see prepareContext.scope).
func renderJob(pc *prepareContext, s plan.Step) (*unstructured.Unstructured, string, error) {
	pc.renders[s.ID]++
	comp, _ := pc.d.Component(s.Component)
	cmd, ok := pc.d.Command(s.Command)
	if !ok || cmd.Exec == nil {
		return nil, "", fmt.Errorf("step %q: exec command %q is not defined", s.ID, s.Command)
	}
	if comp.Container == nil {
		return nil, "", fmt.Errorf("command %q: runs in component %q of type %s; exec commands of a deploy run in a Job from a container component's image", cmd.ID, comp.Name, comp.Kind)
	}
	res, pins := pc.scope(s)
	cw := func(f string) string { return fmt.Sprintf("components[name=%s].container.%s", comp.Name, f) }
	xw := func(f string) string { return fmt.Sprintf("commands[id=%s].exec.%s", cmd.ID, f) }
	ct := comp.Container
	image := res.Substitute(ct.Image, cw("image"), pc.warn)
	if strings.TrimSpace(image) == "" {
		return nil, "", fmt.Errorf("command %q: container component %q has no image to run it in", cmd.ID, comp.Name)
	}
	line := res.Substitute(cmd.Exec.CommandLine, xw("commandLine"), pc.warn)
	if strings.TrimSpace(line) == "" {
		return nil, "", fmt.Errorf("command %q: commandLine is empty", cmd.ID)
	}
	var exports []string
	for _, e := range cmd.Exec.Env {
		exports = append(exports, fmt.Sprintf("%s=%s", e.Name, shellDoubleQuote(res.Substitute(e.Value, xw("env"), pc.warn))))
	}
	script := line
	if len(exports) > 0 {
		script = "export " + strings.Join(exports, " ") + " && " + script
	}
	if wd := res.Substitute(cmd.Exec.WorkingDir, xw("workingDir"), pc.warn); wd != "" {
		script = "cd " + wd + " && " + script
	}
	container := map[string]any{
		"name":    dnsLabel(comp.Name),
		"image":   image,
		"command": []any{jobShell},
		"args":    []any{"-c", script},
	}
	if len(ct.Env) > 0 {
		env := make([]any, 0, len(ct.Env))
		for _, e := range ct.Env {
			env = append(env, map[string]any{"name": e.Name, "value": res.Substitute(e.Value, cw("env"), pc.warn)})
		}
		container["env"] = env
	}
	resources := map[string]any{}
	for _, q := range []struct{ kind, res, value, field string }{
		{"limits", "memory", ct.MemoryLimit, "memoryLimit"},
		{"limits", "cpu", ct.CPULimit, "cpuLimit"},
		{"requests", "memory", ct.MemoryRequest, "memoryRequest"},
		{"requests", "cpu", ct.CPURequest, "cpuRequest"},
	} {
		if q.value == "" {
			continue
		}
		m, _ := resources[q.kind].(map[string]any)
		if m == nil {
			m = map[string]any{}
			resources[q.kind] = m
		}
		m[q.res] = res.Substitute(q.value, cw(q.field), pc.warn)
	}
	if len(resources) > 0 {
		container["resources"] = resources
	}
	job := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1",
		"kind":       "Job",
		"metadata":   map[string]any{"name": jobName(devfileName(pc.d), cmd.ID)},
		"spec": map[string]any{
			"backoffLimit":            int64(jobBackoffLimit),
			"ttlSecondsAfterFinished": int64(jobTTLSecondsAfterFinished),
			"template": map[string]any{
				"spec": map[string]any{
					"restartPolicy": "Never",
					"containers":    []any{container},
				},
			},
		},
	}}
	objs := []*unstructured.Unstructured{job}
	deploy.PinImages(objs, pins)
	deploy.SetLabels(objs, pc.labels)
	source := fmt.Sprintf("%s: commands[id=%s].exec (component %q)", filepath.Base(pc.d.Path), cmd.ID, comp.Name)
	return job, source, nil
}

// execute runs the step's Job with the images built so far, and records the result. A dry
// run runs nothing (the preflight checked the Job).
func (e *execStep) execute(ctx context.Context, x *execution) error {
	job := x.pp.pin([]*unstructured.Unstructured{e.job}, x.refs())[0]
	image := deploy.ImagesOf([]*unstructured.Unstructured{job})[0]
	ns := job.GetNamespace()
	if ns == "" {
		ns = x.namespace
	}
	if ns == "" {
		ns = "default"
	}
	s := e.step
	where := fmt.Sprintf("Job %s/%s", ns, job.GetName())
	if x.dryRun == deploy.DryRunServer || x.dryRun == deploy.DryRunClient {
		x.info(s, fmt.Sprintf("not running %s: --dry-run=%s (the preflight checked it)", where, x.dryRun), map[string]string{"object": where})
		x.recordExec(ExecResult{Command: s.Command, Component: s.Component, Image: image,
			JobResult: deploy.JobResult{Namespace: ns, Name: job.GetName(), Outcome: deploy.JobValidated}})
		return nil
	}
	timeout := x.execTimeout
	if timeout <= 0 {
		timeout = deploy.DefaultJobTimeout
	}
	x.info(s, fmt.Sprintf("running %s with %s (waiting up to %s)", where, image, timeout), map[string]string{"object": where, "image": image})
	start := time.Now()
	res, err := x.cluster.RunJob(ctx, deploy.JobRequest{
		Job: job, Source: e.source, Namespace: x.namespace, DryRun: x.dryRun, Timeout: timeout, FieldManager: x.fieldManager,
		Progress: func(o deploy.ObjectStatus) {
			x.info(s, "waiting for "+o.String(), map[string]string{"object": o.Object(), "status": string(o.Status)})
		},
		Logs: x.logWriter(s),
	})
	if res.Name != "" && res.Outcome != "" {
		x.recordExec(ExecResult{Command: s.Command, Component: s.Component, Image: image, JobResult: res})
	}
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("%s succeeded in %.1fs", res.Object(), time.Since(start).Seconds())
	if res.Replaced {
		msg += " (it replaced the Job an earlier deploy left: a Job's template is immutable)"
	}
	switch {
	case res.Deleted:
		msg += "; deleted it"
	case res.Note != "":
		msg += "; " + res.Note
	}
	x.info(s, msg, map[string]string{"object": res.Object(), "outcome": string(res.Outcome)})
	return nil
}

var notDNSLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// dnsLabel makes s a DNS-1123 label: lowercase alphanumerics and "-", starting and ending
// alphanumeric, at most 63 characters; a name that had to be shortened gets "-" and 8 hex
// digits of its sha256, so that different long names stay different.
func dnsLabel(s string) string {
	v := strings.Trim(notDNSLabel.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(v) <= 63 && v != "" {
		return v
	}
	sum := sha256.Sum256([]byte(s))
	suffix := hex.EncodeToString(sum[:4])
	if prefix := strings.Trim(v[:min(len(v), 63-9)], "-"); prefix != "" {
		return prefix + "-" + suffix
	}
	return suffix
}

// jobName is the name of an exec command's Job: <devfile name>-<command id> as a DNS label
// (odo: <component>-app-<command id>, at most 60 characters).
func jobName(project, command string) string {
	return dnsLabel(project + "-" + command)
}

// shellDoubleQuote quotes v for /bin/sh in double quotes: $ expansions still happen (odo writes
// `export K="v"` the same way), backslashes, double quotes and backquotes are escaped.
func shellDoubleQuote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`")
	return `"` + r.Replace(v) + `"`
}
