package devfile

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"
	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/test/testenv"
)

// corpusWant is what Load must do with one corpus case.
type corpusWant struct {
	// components and commands are the expected counts after a successful load.
	components, commands int
	// errContains, when set, means Load must fail with a *ValidationError whose text contains
	// each string; errNotContains lists text it must not contain.
	errContains    []string
	errNotContains []string
	// missing lists manifest files the corpus left out (SOURCE.txt "unresolved local
	// references"): Load fails naming them; with stubs written, it loads with the counts above.
	missing []string
	// fast asserts the failure comes without any network I/O (registry parents).
	fast bool
}

// registryParent is the expectation for a devfile whose parent comes from a registry, loaded
// without a remote client (LoadOptions{}: no cache directory): refused before any network I/O,
// naming the registry and the stack. TestLoadRegistryParents loads them from the loopback
// registry.
func registryParent(id string) corpusWant {
	return corpusWant{errContains: []string{"parent", `stack "` + id + `"`, "devfile registry https://registry.devfile.io", "no cache directory"}, fast: true}
}

// corpusWants has one entry per case in the corpus; the test fails for a case without one.
//
// Outcomes for the negative cases (README "invalid") and why:
//   - the three composite cases are rejected by the library's data validation (devfile/api
//     pkg/validation, run by Load on a substituted copy) with the command id; the "no default
//     command" lines the library mixes into that error are warnings and must not appear.
//   - applyNoComponent, compositeBadParallel, kubernetesBothInlinedAndUri are rejected by the
//     JSON schema (xeipuuv/gojsonschema): the wording differs from devfile/api's own test
//     expectations (another validator), so the messages are Load's translations.
//   - schemabad: the library has no schema for "Invalid".
//   - variables devfile-good (kind edge) has no schemaVersion, which the library never accepts,
//     so it cannot load (the expected-output comparison is not possible).
//
// Valid cases that do not load offline:
//   - registry parents (5 cases): refused by Load before any network I/O.
//   - a kubernetes/openshift uri file absent from the corpus (5 cases): Load reads uris and
//     fails naming the component; with the file present they load (checked with a stub).
var corpusWants = map[string]corpusWant{
	"devfile+api__pkg_validation_commands_test.go#composite-indirect-cycle": {
		errContains:    []string{"commands[id=command5]: composite command cannot indirectly reference itself", "commands[id=command4]: composite command cannot indirectly reference itself"},
		errNotContains: []string{"default command"},
	},
	"devfile+api__pkg_validation_commands_test.go#composite-missing-subcommand": {
		errContains:    []string{`commands[id=command4]: the command "fakecommand" mentioned in the composite command does not exist in the devfile`},
		errNotContains: []string{"default command"},
	},
	"devfile+api__pkg_validation_commands_test.go#composite-self-reference": {
		errContains:    []string{"commands[id=command4]: composite command cannot reference itself"},
		errNotContains: []string{"default command"},
	},
	"devfile+api__pkg_validation_variables_test-fixtures_all_devfile-good.yaml": {
		errContains: []string{"schemaVersion: schemaVersion is missing"},
	},
	"devfile+api__samples_devfile-registry_redhat-theia-vsx-template.devfile.yaml":         {components: 2, commands: 1},
	"devfile+api__samples_devfiles_outerloop-dockerfile-build-inlined-deploy-devfile.yaml": {components: 3, commands: 7},
	"devfile+api__test_v200_devfiles_commands_applyNoComponent.yaml": {
		errContains: []string{`commands[id=testapply].apply: missing required field "component"`},
	},
	"devfile+api__test_v200_devfiles_commands_compositeBadParallel.yaml": {
		errContains: []string{`commands[id=compositetest1].composite.parallel: expected a boolean, but got string "maybe"`},
	},
	"devfile+api__test_v200_devfiles_components_kubernetesBothInlinedAndUri.yaml": {
		errContains: []string{"components[name=testkubernetes].kubernetes: both inlined and uri are set"},
	},
	"devfile+api__test_v200_devfiles_schemaVersion_schemabad.yaml": {
		errContains: []string{`schemaVersion: schemaVersion "Invalid" is not a devfile schema version like 2.2.0`},
	},
	"devfile+library__tests_v2_devfiles_samples_Parent.yaml": {
		components: 3, commands: 3, missing: []string{"openshift.yaml"},
		errContains: []string{"components[name=openshiftcomponent1].openshift.uri", "openshift.yaml does not exist"},
	},
	"devfile+registry__.devfile.yaml":                                                                                                      {components: 7, commands: 8},
	"devfile+registry__stacks_go_2.0.0_devfile.yaml":                                                                                       {components: 3, commands: 5},
	"devfile+registry__stacks_go_2.1.0_devfile.yaml":                                                                                       {components: 3, commands: 6},
	"devfile+registry__stacks_go_2.2.0_devfile.yaml":                                                                                       {components: 3, commands: 6},
	"devfile+registry__stacks_go_2.3.0_devfile.yaml":                                                                                       {components: 3, commands: 6},
	"devfile+registry__stacks_go_2.4.0_devfile.yaml":                                                                                       {components: 3, commands: 6},
	"devfile+registry__stacks_go_2.5.0_devfile.yaml":                                                                                       {components: 3, commands: 6},
	"devfile+registry__stacks_go_2.6.0_devfile.yaml":                                                                                       {components: 3, commands: 6},
	"devfile-samples+devfile-sample-java-springboot-basic__devfile.yaml":                                                                   registryParent("java-springboot"),
	"devfile-samples+devfile-sample-java-springboot-basic__devfile.yaml@v2.0.0":                                                            registryParent("java-springboot"),
	"devfile-samples+devfile-sample-python-basic__devfile.yaml":                                                                            registryParent("python"),
	"devfile-samples+devfile-sample-python-basic__devfile.yaml@v2.0.0":                                                                     registryParent("python"),
	"nodeshift-starters+devfile-sample__devfile.yaml":                                                                                      registryParent("nodejs"),
	"redhat-developer+odo__docs_website_devfile.yaml":                                                                                      {components: 3, commands: 6},
	"redhat-developer+odo__docs_website_docs_user-guides_advanced_deploy_docs-mdx_dotnet_dotnet_final_devfile_kubernetes.mdx":              {components: 5, commands: 7},
	"redhat-developer+odo__docs_website_docs_user-guides_advanced_deploy_docs-mdx_dotnet_dotnet_final_devfile_openshift.mdx":               {components: 5, commands: 7},
	"redhat-developer+odo__docs_website_docs_user-guides_advanced_deploy_docs-mdx_nodejs_nodejs_final_devfile_kubernetes.mdx":              {components: 5, commands: 9},
	"redhat-developer+odo__docs_website_docs_user-guides_advanced_deploy_docs-mdx_nodejs_nodejs_final_devfile_openshift.mdx":               {components: 5, commands: 9},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-autobuild-deploybydefault-no-deploy-cmd.yaml":                     {components: 7, commands: 3},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-autobuild-deploybydefault.yaml":                                   {components: 19, commands: 16},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-composite-apply-commands-unit-test.yaml":                          {components: 3, commands: 8},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-composite-apply-commands.yaml":                                    {components: 4, commands: 9},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-deploy-defaultBackend-ingress.yaml":                               {components: 5, commands: 9},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-deploy-exec.yaml":                                                 {components: 1, commands: 6},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-deploy-functional-pods.yaml":                                      {components: 6, commands: 9},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-deploy-ingress.yaml":                                              {components: 5, commands: 9},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-deploy-multiple-k8s-resources-in-single-component.yaml":           {components: 3, commands: 7},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-deploy-multiple-k8s-resources-in-single-openshift-component.yaml": {components: 3, commands: 7},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-deploy-with-SB.yaml":                                              {components: 5, commands: 9},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-deploy-with-k8s-uri.yaml":                                         {components: 3, commands: 7},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-deploy-with-multiple-resources.yaml":                              {components: 4, commands: 8},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-deploy.yaml":                                                      {components: 3, commands: 7},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-for-run.yaml":                                                     {components: 4, commands: 9},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-outerloop-args.yaml":                                              {components: 2, commands: 4},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-outerloop-project_source-in-docker-build-context.yaml":            {components: 4, commands: 6},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-outerloop.yaml":                                                   {components: 2, commands: 4},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-variables.yaml":                                                   {components: 3, commands: 2},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-with-metadata-language-as-invalid-label.yaml":                     {components: 2, commands: 6},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-with-metadata-language.yaml":                                      {components: 2, commands: 6},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-with-metadata-no-language-project-type.yaml":                      {components: 2, commands: 6},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-with-metadata-project-type-as-invalid-label.yaml":                 {components: 2, commands: 6},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-with-metadata-project-type.yaml":                                  {components: 2, commands: 6},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-with-two-deploy-commands.yaml":                                    {components: 3, commands: 8},
	"redhat-developer+odo__tests_helper_registry_server_testdata_registry-build_stacks_go_2.2.0_devfile.yaml": {
		components: 3, commands: 6, missing: []string{"kubernetes/deploy.yaml"},
		errContains: []string{"components[name=deploy].kubernetes.uri", "kubernetes/deploy.yaml does not exist"},
	},
	"redhat-developer+odo__tests_helper_registry_server_testdata_registry-build_stacks_java-springboot_2.1.0_devfile.yaml": {
		components: 4, commands: 6, missing: []string{"kubernetes/deploy.yaml"},
		errContains: []string{"components[name=deploy].kubernetes.uri", "kubernetes/deploy.yaml does not exist"},
	},
	"redhat-developer+odo__tests_helper_registry_server_testdata_registry-build_stacks_python_3.0.0_devfile.yaml": {
		components: 3, commands: 6, missing: []string{"kubernetes/deploy.yaml"},
		errContains: []string{"components[name=deploy].kubernetes.uri", "kubernetes/deploy.yaml does not exist"},
	},
	"redhat-developer+odo__ui_cypress_fixtures_input_with-apply-command.yaml": {
		components: 1, commands: 1, missing: []string{"uri"}, // the devfile says literally "uri: uri"
		errContains: []string{"components[name=resource1].kubernetes.uri", "/uri does not exist"},
	},
	"redhat-developer+odo__ui_cypress_fixtures_input_with-image-command.yaml": {components: 1, commands: 1},
}

// corpusChecks spot-checks the model of some corpus cases by name.
var corpusChecks = map[string]func(t *testing.T, d *Devfile){
	"devfile+api__samples_devfiles_outerloop-dockerfile-build-inlined-deploy-devfile.yaml": func(t *testing.T, d *Devfile) {
		c := mustComponent(t, d, "outerloop-build")
		if c.Kind != KindImage || c.Image.ImageName != "{{CONTAINER_IMAGE}}" || c.Image.Dockerfile.URI != "./utils/Dockerfile" || c.Image.Dockerfile.BuildContext != "/project" {
			t.Errorf("outerloop-build = %+v / %+v", c.Image, c.Image.Dockerfile)
		}
		if k := mustComponent(t, d, "outerloop-deploy"); !strings.Contains(k.Manifest.YAML(), "name: {{COMPONENT_NAME}}") {
			t.Errorf("outerloop-deploy inlined lost its variable: %q", k.Manifest.Inlined)
		}
		cmd := mustCommand(t, d, "deploy")
		want := &Command{ID: "deploy", Kind: CommandComposite, Group: &Group{Kind: "deploy"}, Composite: &Composite{Commands: []string{"build-image", "deployk8s"}}}
		if diff := cmp.Diff(want, cmd); diff != "" {
			t.Errorf("deploy command (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"CONTAINER_IMAGE": "node-image:latest", "COMPONENT_NAME": "my-node", "PORT": "3001"}, d.Variables); diff != "" {
			t.Errorf("variables (-want +got):\n%s", diff)
		}
	},
	"devfile+api__samples_devfile-registry_redhat-theia-vsx-template.devfile.yaml": func(t *testing.T, d *Devfile) {
		if c := mustComponent(t, d, "vsx"); c.Kind != KindVolume {
			t.Errorf("vsx kind = %q, want volume", c.Kind)
		}
		if d.SchemaVersion != "2.0.0" {
			t.Errorf("schemaVersion = %q", d.SchemaVersion)
		}
	},
	"devfile+registry__.devfile.yaml": func(t *testing.T, d *Devfile) {
		var sources []string
		for _, c := range d.Components {
			if c.Manifest != nil && c.Manifest.Content != "" {
				sources = append(sources, strings.TrimPrefix(c.Manifest.Source, d.Dir))
			}
		}
		want := []string{"/.ci/deploy/resources/deployment.yaml", "/.ci/deploy/resources/service.yaml",
			"/.ci/deploy/resources/configmap.yaml", "/.ci/deploy/resources/ingress.yaml", "/.ci/deploy/resources/route.yaml"}
		if diff := cmp.Diff(want, sources); diff != "" {
			t.Errorf("manifests read (-want +got):\n%s", diff)
		}
	},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-autobuild-deploybydefault.yaml": func(t *testing.T, d *Devfile) {
		for name, want := range map[string]*bool{
			"k8s-deploybydefault-true-and-referenced":      ptr(true),
			"k8s-deploybydefault-false-and-not-referenced": ptr(false),
			"k8s-deploybydefault-not-set-and-referenced":   nil,
			"ocp-deploybydefault-true-and-referenced":      ptr(true),
		} {
			if diff := cmp.Diff(want, mustComponent(t, d, name).Manifest.DeployByDefault); diff != "" {
				t.Errorf("%s deployByDefault (-want +got):\n%s", name, diff)
			}
		}
	},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-with-two-deploy-commands.yaml": func(t *testing.T, d *Devfile) {
		if g := mustCommand(t, d, "deploy1").Group; g == nil || g.Kind != "deploy" || g.IsDefault == nil || !*g.IsDefault {
			t.Errorf("deploy1 group = %+v", g)
		}
		if g := mustCommand(t, d, "DEPLOY2").Group; g == nil || g.IsDefault == nil || *g.IsDefault {
			t.Errorf("deploy2 group = %+v", g)
		}
	},
	"redhat-developer+odo__tests_examples_source_devfiles_nodejs_devfile-variables.yaml": func(t *testing.T, d *Devfile) {
		// Undefined in the devfile (odo tests pass them with --var): kept verbatim.
		var names []string
		for _, c := range d.Components {
			if c.Image != nil {
				names = append(names, c.Image.ImageName)
			}
		}
		if diff := cmp.Diff([]string{"{{ VARIABLE_CONTAINER_IMAGE_1 }}", "{{ VARIABLE_CONTAINER_IMAGE_2 }}"}, names); diff != "" {
			t.Errorf("image names (-want +got):\n%s", diff)
		}
	},
}

// TestLoadCorpus loads every corpus case from a private copy, with the working directory and
// TMPDIR pointed at empty directories, and checks the outcome, the time taken, and that no file
// was written anywhere.
func TestLoadCorpus(t *testing.T) {
	root := testenv.CorpusDir(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	cwd, tmp := filepath.Join(base, "cwd"), filepath.Join(base, "tmp")
	mkdirs(t, cwd, tmp)
	t.Chdir(cwd)
	t.Setenv("TMPDIR", tmp)

	seen := map[string]bool{}
	for i, e := range entries {
		name := e.Name()
		if name == "README.md" {
			continue
		}
		seen[name] = true
		want, ok := corpusWants[name]
		if !ok {
			t.Errorf("corpus case %q has no entry in corpusWants", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			proj := filepath.Join(base, "projects", fmt.Sprint(i))
			if e.IsDir() {
				testenv.CopyTree(t, filepath.Join(root, name), proj)
			} else {
				mkdirs(t, proj)
				copyFile(t, filepath.Join(root, name), filepath.Join(proj, "devfile.yaml"))
			}
			before := map[string]map[string]string{"project": snapshot(t, proj), "cwd": snapshot(t, cwd), "tmp": snapshot(t, tmp)}

			d, err, elapsed := loadWithin(t, proj, LoadOptions{HTTPTimeout: 2 * time.Second})

			after := map[string]map[string]string{"project": snapshot(t, proj), "cwd": snapshot(t, cwd), "tmp": snapshot(t, tmp)}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("Load changed files (-before +after):\n%s", diff)
			}
			if want.fast && elapsed > 2*time.Second {
				t.Errorf("took %s; remote parents must be refused without network I/O", elapsed)
			}
			if len(want.errContains) > 0 {
				checkValidationError(t, err, want.errContains, want.errNotContains)
				if len(want.missing) == 0 {
					return
				}
				for _, m := range want.missing {
					writeFile(t, filepath.Join(proj, m), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stub\n")
				}
				d, err, _ = loadWithin(t, proj, LoadOptions{})
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(d.Components) != want.components || len(d.Commands) != want.commands {
				t.Errorf("got %d components, %d commands; want %d, %d", len(d.Components), len(d.Commands), want.components, want.commands)
			}
			for _, c := range d.Components {
				if c.Manifest != nil && c.Manifest.URI != "" && !strings.Contains(c.Manifest.URI, "{{") && c.Manifest.Content == "" {
					t.Errorf("component %s: uri %q not read", c.Name, c.Manifest.URI)
				}
			}
			if check := corpusChecks[name]; check != nil {
				check(t, d)
			}
		})
	}
	for name := range corpusWants {
		if !seen[name] {
			t.Errorf("corpusWants has %q, which is not in the corpus", name)
		}
	}
}

// loadWithin runs Load with a 20 s deadline and fails the test if it does not return in time or
// panics.
func loadWithin(t *testing.T, path string, opts LoadOptions) (*Devfile, error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		d     *Devfile
		err   error
		panic any
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{panic: r}
			}
		}()
		d, err := Load(ctx, path, opts)
		done <- result{d: d, err: err}
	}()
	select {
	case r := <-done:
		if r.panic != nil {
			t.Fatalf("Load panicked: %v", r.panic)
		}
		return r.d, r.err, time.Since(start)
	case <-time.After(25 * time.Second):
		t.Fatalf("Load did not return within 25 s")
		return nil, nil, 0
	}
}

func checkValidationError(t *testing.T, err error, contains, notContains []string) *ValidationError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %T: %v", err, err)
	}
	msg := err.Error()
	for _, s := range contains {
		if !strings.Contains(msg, s) {
			t.Errorf("error does not contain %q:\n%s", s, msg)
		}
	}
	for _, s := range notContains {
		if strings.Contains(msg, s) {
			t.Errorf("error contains %q:\n%s", s, msg)
		}
	}
	return ve
}

func TestLoadLocalParent(t *testing.T) {
	proj := testenv.CopyTree(t, "testdata/parent-local", filepath.Join(t.TempDir(), "p"))
	before := snapshot(t, proj)
	d, err := Load(context.Background(), proj, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, snapshot(t, proj)); diff != "" {
		t.Errorf("Load changed the project (-before +after):\n%s", diff)
	}
	var names, ids []string
	for _, c := range d.Components {
		names = append(names, c.Name)
	}
	for _, c := range d.Commands {
		ids = append(ids, c.ID)
	}
	if diff := cmp.Diff([]string{"runtime", "image-build", "deploy", "extra"}, names); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"build-image", "deploy-k8s", "deploy", "apply-extra"}, ids); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	img := mustComponent(t, d, "image-build")
	want := &Image{ImageName: "{{registry}}/child:latest", Dockerfile: &Dockerfile{URI: "child/Dockerfile", BuildContext: "."}}
	if diff := cmp.Diff(want, img.Image); diff != "" {
		t.Errorf("overridden image (-want +got):\n%s", diff)
	}
	if img.Attributes != nil {
		t.Errorf("library import attributes leaked into the model: %v", img.Attributes)
	}
	if diff := cmp.Diff(map[string]string{"registry": "quay.io/base"}, d.Variables); diff != "" {
		t.Errorf("variables from parent (-want +got):\n%s", diff)
	}
	if d.Name != "child-app" {
		t.Errorf("name = %q", d.Name)
	}
	extra := mustComponent(t, d, "extra")
	if extra.Manifest.Source != filepath.Join(proj, "extra.yaml") || !strings.Contains(extra.Manifest.Content, "kind: Service") || !equalBool(extra.Manifest.DeployByDefault, false) {
		t.Errorf("extra manifest = %+v", extra.Manifest)
	}
}

// A parent in another directory is merged by Load itself: the library would copy the parent's
// whole directory (README.md, kubernetes/) into the project.
func TestLoadParentInOtherDirectory(t *testing.T) {
	top := testenv.CopyTree(t, "testdata/parent-otherdir", filepath.Join(t.TempDir(), "repo"))
	before := snapshot(t, top)
	d, err := Load(context.Background(), filepath.Join(top, "app"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, snapshot(t, top)); diff != "" {
		t.Errorf("Load changed files (-before +after):\n%s", diff)
	}
	var names []string
	for _, c := range d.Components {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"image-build", "deploy", "runtime"}, names); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	if got := mustComponent(t, d, "image-build").Image.ImageName; got != "app-image:latest" {
		t.Errorf("override not applied: imageName %q", got)
	}
	if got := mustCommand(t, d, "deploy").Composite.Commands; !cmp.Equal(got, []string{"build-image", "deploy-k8s"}) {
		t.Errorf("parent command = %v", got)
	}
	// Like the library (and odo), uris resolve against the project directory, even for
	// components that come from the parent.
	if m := mustComponent(t, d, "deploy").Manifest; !strings.Contains(m.Content, "from-app-dir") {
		t.Errorf("deploy manifest read from %s", m.Source)
	}
}

func TestLoadManifestURIRelativeToDevfile(t *testing.T) {
	dir, err := filepath.Abs("testdata/uri-manifest")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // uris must not resolve against the working directory
	d, err := Load(context.Background(), filepath.Join(dir, "devfile.yaml"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*Manifest{
		"deploy":    {URI: "manifests/deploy.yaml", Source: filepath.Join(dir, "manifests/deploy.yaml"), Content: readFile(t, filepath.Join(dir, "manifests/deploy.yaml"))},
		"route":     {URI: "./manifests/route.yaml", Source: filepath.Join(dir, "manifests/route.yaml"), Content: readFile(t, filepath.Join(dir, "manifests/route.yaml"))},
		"templated": {URI: "manifests/{{env}}.yaml"}, // needs variables: left to the caller
	}
	got := map[string]*Manifest{}
	for _, c := range d.Components {
		got[c.Name] = c.Manifest
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("manifests (-want +got):\n%s", diff)
	}
	if k := mustComponent(t, d, "route").Kind; k != KindOpenShift {
		t.Errorf("route kind = %q", k)
	}
	// The caller reads a templated uri after substitution.
	content, source, err := ReadManifestURI(context.Background(), d.Dir, "manifests/deploy.yaml", LoadOptions{})
	if err != nil || source != want["deploy"].Source || content != want["deploy"].Content {
		t.Errorf("ReadManifestURI = %q, %q, %v", content, source, err)
	}
}

func TestLoadManifestURIHTTP(t *testing.T) {
	const manifest = "apiVersion: v1\nkind: Service\nmetadata:\n  name: remote\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/deploy.yaml" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, manifest)
	}))
	t.Cleanup(srv.Close)

	proj := t.TempDir()
	writeFile(t, filepath.Join(proj, "devfile.yaml"), fmt.Sprintf(`schemaVersion: 2.2.0
components:
  - name: remote
    kubernetes:
      uri: %s/deploy.yaml
`, srv.URL))
	d, err := Load(context.Background(), proj, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := mustComponent(t, d, "remote").Manifest
	if m.Content != manifest || m.Source != srv.URL+"/deploy.yaml" {
		t.Errorf("manifest = %+v", m)
	}

	writeFile(t, filepath.Join(proj, "devfile.yaml"), fmt.Sprintf(`schemaVersion: 2.2.0
components:
  - name: remote
    openshift:
      uri: %s/missing.yaml
`, srv.URL))
	_, err = Load(context.Background(), proj, LoadOptions{})
	ve := checkValidationError(t, err, []string{"components[name=remote].openshift.uri", "404"}, nil)
	if len(ve.Problems) != 1 {
		t.Errorf("problems = %v", ve.Problems)
	}
}

func TestLoadManifestURIHTTPTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a server that never answers (until the client gives up)
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	proj := t.TempDir()
	writeFile(t, filepath.Join(proj, "devfile.yaml"), fmt.Sprintf(`schemaVersion: 2.2.0
components:
  - name: slow
    kubernetes:
      uri: %s/deploy.yaml
`, srv.URL))

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		_, err := Load(context.Background(), proj, LoadOptions{HTTPTimeout: 300 * time.Millisecond})
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("took %s with a 300ms timeout", elapsed)
		}
		ve := checkValidationError(t, err, []string{"components[name=slow].kubernetes.uri", "no complete response within 300ms"}, nil)
		if !errors.Is(ve, context.DeadlineExceeded) {
			t.Errorf("cause is not a deadline: %v", ve.Err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Load(ctx, proj, LoadOptions{HTTPTimeout: time.Minute})
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("took %s after ctx ended", elapsed)
		}
		var ve *ValidationError
		if errors.As(err, &ve) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("want the context's error (not a ValidationError), got %T: %v", err, err)
		}
	})
}

// Kubernetes parents and remote plugins are refused before any request is made (registry
// and http(s) parents are fetched: remote_test.go).
func TestLoadUnsupportedRemoteRefsRefused(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name, parent string
		want         []string
	}{
		{"kubernetes", "parent: {kubernetes: {name: tmpl, namespace: ns}}", []string{`parent.kubernetes: parent kubernetes DevWorkspaceTemplate "tmpl" (namespace "ns")`}},
		{"plugin", "components:\n  - name: tools\n    plugin: {id: theia, registryUrl: " + srv.URL + "}",
			[]string{`components[name=tools].plugin: plugin component "tools" id "theia" from registry`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proj := t.TempDir()
			writeFile(t, filepath.Join(proj, "devfile.yaml"), "schemaVersion: 2.2.0\n"+tt.parent+"\n")
			_, err := Load(context.Background(), proj, LoadOptions{})
			checkValidationError(t, err, tt.want, nil)
		})
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("server got %d requests", n)
	}
}

func TestLoadKeepsVariables(t *testing.T) {
	d, err := Load(context.Background(), "testdata/variables", LoadOptions{})
	if err != nil {
		t.Fatal(err) // memoryLimit "{{mem}}" is only valid once substituted: validation must use a substituted copy
	}
	build := mustComponent(t, d, "build").Image
	want := &Image{ImageName: "{{CONTAINER_IMAGE}}", Dockerfile: &Dockerfile{URI: "{{ dockerfileDir }}/Dockerfile", BuildContext: "{{buildCtx}}", Args: []string{"VERSION={{version}}"}}}
	if diff := cmp.Diff(want, build); diff != "" {
		t.Errorf("image (-want +got):\n%s", diff)
	}
	if got := mustComponent(t, d, "deploy").Manifest.Inlined; !strings.Contains(got, "name: {{COMPONENT_NAME}}") {
		t.Errorf("inlined = %q", got)
	}
	if got := mustComponent(t, d, "runtime").Container.Image; got != "{{CONTAINER_IMAGE}}" {
		t.Errorf("container image = %q", got)
	}
	if got := mustCommand(t, d, "run").Exec.CommandLine; got != "echo {{COMPONENT_NAME}} {{undefined}}" {
		t.Errorf("commandLine = %q", got)
	}
	wantVars := map[string]string{"CONTAINER_IMAGE": "quay.io/me/app:latest", "COMPONENT_NAME": "my-app", "mem": "512Mi"}
	if diff := cmp.Diff(wantVars, d.Variables); diff != "" {
		t.Errorf("variables (-want +got):\n%s", diff)
	}
}

func TestLoadModel(t *testing.T) {
	d, err := Load(context.Background(), "testdata/model/devfile.yaml", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("testdata/model/devfile.yaml")
	if d.Path != abs || d.Dir != filepath.Dir(abs) || d.Name != "model" || d.SchemaVersion != "2.2.0" || d.Variables != nil {
		t.Errorf("devfile = %q %q %q %q %v", d.Path, d.Dir, d.Name, d.SchemaVersion, d.Variables)
	}
	wantComponents := []Component{
		{Name: "img-unset", Kind: KindImage, Image: &Image{ImageName: "a", Dockerfile: &Dockerfile{URI: "Dockerfile"}},
			Attributes: map[string]string{"str": "hello", "num": "3", "obj": `{"a":[1,true]}`}},
		{Name: "img-set", Kind: KindImage, Image: &Image{ImageName: "b", AutoBuild: ptr(false),
			Dockerfile: &Dockerfile{URI: "docker/Dockerfile", BuildContext: "ctx", Args: []string{"A=1", "B=2"}, RootRequired: ptr(true)}}},
		{Name: "k8s-unset", Kind: KindKubernetes, Manifest: &Manifest{Inlined: "kind: ConfigMap"}},
		{Name: "ocp-set", Kind: KindOpenShift, Manifest: &Manifest{Inlined: "kind: Route", DeployByDefault: ptr(true)}},
		{Name: "runtime", Kind: KindContainer, Container: &Container{Image: "busybox", Endpoints: []Endpoint{{"http", 8080}, {"debug", 5858}},
			Env: []EnvVar{{"GREETING", "hello"}}, MemoryLimit: "256Mi", MemoryRequest: "64Mi", CPULimit: "1", CPURequest: "100m"}},
		{Name: "data", Kind: KindVolume},
	}
	if diff := cmp.Diff(wantComponents, d.Components); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	wantCommands := []Command{
		{ID: "build-image", Kind: CommandApply, Group: &Group{Kind: "build"}, Apply: &Apply{Component: "img-set"},
			Attributes: map[string]string{"CONTAINER_IMAGE": "{{img}}"}},
		{ID: "run", Kind: CommandExec, Group: &Group{Kind: "run", IsDefault: ptr(false)},
			Exec: &Exec{Component: "runtime", CommandLine: "./run.sh", WorkingDir: "/app", Env: []EnvVar{{"MODE", "dev"}}}},
		{ID: "deploy", Kind: CommandComposite, Group: &Group{Kind: "deploy", IsDefault: ptr(true)},
			Composite: &Composite{Commands: []string{"build-image", "apply-k8s"}, Parallel: true}},
		{ID: "apply-k8s", Kind: CommandApply, Apply: &Apply{Component: "k8s-unset"}},
	}
	if diff := cmp.Diff(wantCommands, d.Commands); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}

	if c, ok := d.Command("Build-IMAGE"); !ok || c.ID != "build-image" {
		t.Errorf("Command(Build-IMAGE) = %v, %v", c, ok)
	}
	if _, ok := d.Command("nope"); ok {
		t.Error("Command(nope) found")
	}
	if c, ok := d.Component("data"); !ok || c != &d.Components[5] {
		t.Errorf("Component(data) = %v, %v", c, ok)
	}
	if _, ok := d.Component("DATA"); ok {
		t.Error("component names are case-sensitive")
	}
}

// Kinds the schema-valid corpus cannot produce, converted directly.
func TestConvertUnsupported(t *testing.T) {
	comp := convertComponent(v1.Component{Name: "x", ComponentUnion: v1.ComponentUnion{Custom: &v1.CustomComponent{ComponentClass: "helm"}}})
	if diff := cmp.Diff(Component{Name: "x", Kind: KindUnsupported}, comp); diff != "" {
		t.Errorf("custom component (-want +got):\n%s", diff)
	}
	cmd := convertCommand(v1.Command{Id: "c", CommandUnion: v1.CommandUnion{Custom: &v1.CustomCommand{
		LabeledCommand: v1.LabeledCommand{BaseCommand: v1.BaseCommand{Group: &v1.CommandGroup{Kind: "deploy"}}}}}})
	if diff := cmp.Diff(Command{ID: "c", Kind: CommandUnsupported, Group: &Group{Kind: "deploy"}}, cmd); diff != "" {
		t.Errorf("custom command (-want +got):\n%s", diff)
	}
	img := convertComponent(v1.Component{Name: "i", ComponentUnion: v1.ComponentUnion{Image: &v1.ImageComponent{Image: v1.Image{
		ImageName: "x", ImageUnion: v1.ImageUnion{Dockerfile: &v1.DockerfileImage{DockerfileSrc: v1.DockerfileSrc{Git: &v1.DockerfileGitProjectSource{}}}}}}}})
	if img.Image.Dockerfile.Remote != "git" {
		t.Errorf("git dockerfile: Remote = %q", img.Image.Dockerfile.Remote)
	}
}

// TestLoadErrors checks that failures are *ValidationError with named paths and short messages.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // devfile.yaml and others
		file    string            // ValidationError.File, relative to the project; default devfile.yaml
		want    []Problem
		wantErr []string // alternatively: substrings of Error()
	}{
		{
			name: "missing imageName names the component",
			files: map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
components:
  - name: frontend
    container: {image: busybox}
  - name: backend
    image:
      dockerfile: {uri: Dockerfile}
`},
			want: []Problem{{Path: "components[name=backend].image", Message: `missing required field "imageName"`}},
		},
		{
			name: "bad group kind names the command",
			files: map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
components:
  - name: k8s
    kubernetes: {inlined: "kind: ConfigMap"}
commands:
  - id: ship
    apply:
      component: k8s
      group: {kind: ship}
`},
			want: []Problem{{Path: "commands[id=ship].apply.group.kind", Message: `"ship" is not allowed here; must be one of "build", "run", "test", "debug", "deploy"`}},
		},
		{
			name:  "schemaVersion not a version",
			files: map[string]string{"devfile.yaml": "schemaVersion: 2.x\n"},
			want:  []Problem{{Path: "schemaVersion", Message: `schemaVersion "2.x" is not a devfile schema version like 2.2.0 (supported: 2.0.0, 2.1.0, 2.2.0, 2.2.1, 2.2.2, 2.3.0)`}},
		},
		{
			name:  "schemaVersion unsupported",
			files: map[string]string{"devfile.yaml": "schemaVersion: 2.9.0\n"},
			want:  []Problem{{Path: "schemaVersion", Message: `schemaVersion "2.9.0" is not supported (supported: 2.0.0, 2.1.0, 2.2.0, 2.2.1, 2.2.2, 2.3.0)`}},
		},
		{
			name:  "schemaVersion a number (the library would panic)",
			files: map[string]string{"devfile.yaml": "schemaVersion: 2.2\n"},
			want:  []Problem{{Path: "schemaVersion", Message: `schemaVersion must be a string like "2.2.0", got 2.2; quote it`}},
		},
		{
			name:  "schemaVersion missing",
			files: map[string]string{"devfile.yaml": "metadata: {name: x}\n"},
			want:  []Problem{{Path: "schemaVersion", Message: `schemaVersion is missing; add a first line like "schemaVersion: 2.2.0"`}},
		},
		{
			name:    "not YAML",
			files:   map[string]string{"devfile.yaml": "schemaVersion: 2.2.0\ncomponents: [\n"},
			wantErr: []string{"not valid YAML", "line"},
		},
		{
			name:  "not a mapping",
			files: map[string]string{"devfile.yaml": "- a\n- b\n"},
			want:  []Problem{{Message: "a devfile must be a YAML mapping (schemaVersion: ..., components: ...), not a list"}},
		},
		{
			name: "unknown field",
			files: map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
components:
  - name: web
    container: {image: busybox, imagePullPolicy: Always}
`},
			want: []Problem{{Path: "components[name=web].container", Message: `unknown field "imagePullPolicy"`}},
		},
		{
			name: "composite cycle, from library validation",
			files: map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
commands:
  - id: all
    composite: {commands: [build, all]}
  - id: build
    composite: {commands: []}
`},
			want: []Problem{{Path: "commands[id=all]", Message: "composite command cannot reference itself"}},
		},
		{
			name: "apply of a missing component",
			files: map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
commands:
  - id: deploy
    apply: {component: nowhere}
`},
			want: []Problem{{Path: "commands[id=deploy]", Message: "command does not map to a valid component"}},
		},
		{
			name: "two default deploy commands",
			files: map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
components:
  - name: k8s
    kubernetes: {inlined: "kind: ConfigMap"}
commands:
  - id: a
    apply: {component: k8s, group: {kind: deploy, isDefault: true}}
  - id: b
    apply: {component: k8s, group: {kind: deploy, isDefault: true}}
`},
			want: []Problem{{Path: "commands", Message: "several commands of group deploy are marked isDefault: a; b; mark only one"}},
		},
		{
			name: "duplicate component name",
			files: map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
components:
  - name: web
    container: {image: a}
  - name: web
    container: {image: b}
`},
			want: []Problem{{Message: `"web" is used more than once (component names and command ids must be unique)`}},
		},
		{
			name:  "missing local parent",
			files: map[string]string{"devfile.yaml": "schemaVersion: 2.2.0\nparent: {uri: ./base.yaml}\n"},
			want:  []Problem{{Path: "parent.uri", Message: `parent uri "./base.yaml": no devfile at {{dir}}/base.yaml`}},
		},
		{
			name: "parent cycle",
			files: map[string]string{
				"devfile.yaml": "schemaVersion: 2.2.0\nparent: {uri: ./a.yaml}\n",
				"a.yaml":       "schemaVersion: 2.2.0\nparent: {uri: ./devfile.yaml}\n",
			},
			file: "a.yaml",
			want: []Problem{{Path: "parent.uri", Message: `parent uri "./devfile.yaml": reference cycle {{dir}}/devfile.yaml -> {{dir}}/a.yaml -> {{dir}}/devfile.yaml`}},
		},
		{
			name: "schema error in the parent names the parent file",
			files: map[string]string{
				"devfile.yaml":     "schemaVersion: 2.2.0\nparent: {uri: ./base/parent.yaml}\n",
				"base/parent.yaml": "schemaVersion: 2.2.0\ncomponents:\n  - name: img\n    image: {dockerfile: {uri: Dockerfile}}\n",
			},
			file: "base/parent.yaml",
			want: []Problem{{Path: "components[name=img].image", Message: `missing required field "imageName"`}},
		},
		{
			name: "remote grandparent without a cache directory fails before any I/O",
			files: map[string]string{
				"devfile.yaml": "schemaVersion: 2.2.0\nparent: {uri: ./parent.yaml}\n",
				"parent.yaml":  "schemaVersion: 2.2.0\nparent: {id: nodejs, registryUrl: \"https://registry.devfile.io\"}\n",
			},
			file: "parent.yaml",
			want: []Problem{{Path: "parent", Message: `devfile registry https://registry.devfile.io, stack "nodejs": fetching https://registry.devfile.io: no cache directory; devtool keeps fetched stacks and Dockerfiles in its cache directory; set DEVTOOL_CACHE_DIR or HOME`}},
		},
		{
			name: "parent newer than child",
			files: map[string]string{
				"devfile.yaml":        "schemaVersion: 2.1.0\nparent: {uri: ../base/parent.yaml}\n",
				"../base/parent.yaml": "schemaVersion: 2.2.0\n",
			},
			wantErr: []string{"parent: parent devfile ../base/parent.yaml has schemaVersion 2.2.0, newer than this devfile's 2.1.0"},
		},
		{
			name: "missing manifest file",
			files: map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
components:
  - name: deploy
    kubernetes: {uri: k8s/deploy.yaml}
`},
			want: []Problem{{Path: "components[name=deploy].kubernetes.uri", Message: "manifest file {{dir}}/k8s/deploy.yaml does not exist"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "proj")
			for name, content := range tt.files {
				writeFile(t, filepath.Join(dir, name), content)
			}
			_, err := Load(context.Background(), dir, LoadOptions{})
			ve := checkValidationError(t, err, tt.wantErr, nil)
			file := tt.file
			if file == "" {
				file = "devfile.yaml"
			}
			if tt.want == nil {
				return
			}
			if want := filepath.Join(dir, file); ve.File != want {
				t.Errorf("File = %s, want %s", ve.File, want)
			}
			want := make([]Problem, len(tt.want))
			for i, p := range tt.want {
				want[i] = Problem{Path: p.Path, Message: strings.ReplaceAll(p.Message, "{{dir}}", dir)}
			}
			if diff := cmp.Diff(want, ve.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadFindsDevfile(t *testing.T) {
	t.Run("priority", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, ".devfile.yaml"), "schemaVersion: 2.2.0\nmetadata: {name: hidden}\n")
		writeFile(t, filepath.Join(dir, "devfile.yml"), "schemaVersion: 2.2.0\nmetadata: {name: yml}\n")
		d, err := Load(context.Background(), dir, LoadOptions{})
		if err != nil || d.Name != "hidden" || d.Path != filepath.Join(dir, ".devfile.yaml") {
			t.Fatalf("Load = %+v, %v", d, err)
		}
		writeFile(t, filepath.Join(dir, "devfile.yaml"), "schemaVersion: 2.2.0\nmetadata: {name: main}\n")
		if d, err = Load(context.Background(), dir, LoadOptions{}); err != nil || d.Name != "main" {
			t.Fatalf("Load = %+v, %v", d, err)
		}
	})
	t.Run("empty directory", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Load(context.Background(), dir, LoadOptions{})
		checkValidationError(t, err, []string{"no devfile in directory " + dir, "devfile.yaml, .devfile.yaml, devfile.yml, .devfile.yml"}, nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("not ErrNotExist: %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nope.yaml")
		_, err := Load(context.Background(), p, LoadOptions{})
		checkValidationError(t, err, []string{p}, nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("not ErrNotExist: %v", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Load(ctx, "testdata/model", LoadOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestValidationErrorText(t *testing.T) {
	one := &ValidationError{File: "/p/devfile.yaml", Problems: []Problem{{Path: "commands[id=deploy]", Message: "bad"}}}
	if got, want := one.Error(), "devfile /p/devfile.yaml: commands[id=deploy]: bad"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	two := &ValidationError{File: "/p/devfile.yaml", Problems: []Problem{{Message: "first"}, {Path: "schemaVersion", Message: "second"}}}
	if got, want := two.Error(), "devfile /p/devfile.yaml has 2 problems:\n  - first\n  - schemaVersion: second"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNamedPath(t *testing.T) {
	doc := map[string]any{
		"components": []any{
			map[string]any{"name": "web", "attributes": map[string]any{"alpha.port": map[string]any{"x": 1}}},
			map[string]any{"container": map[string]any{}},
		},
		"commands": []any{map[string]any{"id": "deploy"}},
	}
	for field, want := range map[string]string{
		"(root)":                               "",
		"components.0.image":                   "components[name=web].image",
		"components.1.container.image":         "components[1].container.image",
		"components.0.attributes.alpha.port.x": "components[name=web].attributes.alpha.port.x",
		"commands.0.apply.group.kind":          "commands[id=deploy].apply.group.kind",
		"commands.7.apply":                     "commands[7].apply",
	} {
		if got := namedPath(field, doc); got != want {
			t.Errorf("namedPath(%q) = %q, want %q", field, got, want)
		}
	}
}

func mustComponent(t *testing.T, d *Devfile, name string) *Component {
	t.Helper()
	c, ok := d.Component(name)
	if !ok {
		t.Fatalf("no component %q", name)
	}
	return c
}

func mustCommand(t *testing.T, d *Devfile, id string) *Command {
	t.Helper()
	c, ok := d.Command(id)
	if !ok {
		t.Fatalf("no command %q", id)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func equalBool(p *bool, v bool) bool { return p != nil && *p == v }

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	mkdirs(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	writeFile(t, dst, readFile(t, src))
}

// snapshot records every entry under dir with its type, size, mtime and content hash.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := e.Info()
		if err != nil {
			return err
		}
		if e.IsDir() {
			out[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%s %d %s %x", info.Mode(), info.Size(), info.ModTime().Format(time.RFC3339Nano), sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
