package helm

import (
	"context"
	"testing"

	v3action "helm.sh/helm/v3/pkg/action"
	v3loader "helm.sh/helm/v3/pkg/chart/loader"
)

// TestHelm3SeesReleases: Helm 3's SDK (helm.sh/helm/v3, what `helm` 3.x runs) lists and reads
// the history of a release devtool installed and upgraded with Helm 4's, labels included; and
// a release Helm 3 installed (client-side apply) is upgraded by devtool with Helm 4's
// server-side apply. Helm 4 reads and writes Helm 3's release records.
func TestHelm3SeesReleases(t *testing.T) {
	e, ns := newEnv(t)
	ctx := context.Background()
	dir := writeChart(t, t.TempDir(), "hello", "0.1.0", nil)
	ch := load(t, Source{Chart: dir})
	req := upgradeReq(ch, ns, map[string]any{"message": "one"})
	if _, err := e.client.UpgradeRelease(ctx, req); err != nil {
		t.Fatal(err)
	}
	req.Values = map[string]any{"message": "two"}
	if _, err := e.client.UpgradeRelease(ctx, req); err != nil {
		t.Fatal(err)
	}

	cfg3 := new(v3action.Configuration)
	if err := cfg3.Init(e.getter, ns, "secret", func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	list := v3action.NewList(cfg3)
	rels, err := list.Run()
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 1 || rels[0].Name != "web" || rels[0].Version != 2 || rels[0].Info.Status.String() != "deployed" || rels[0].Chart.Metadata.Version != "0.1.0" {
		t.Fatalf("helm 3 list = %+v, want web at revision 2, deployed", rels)
	}
	if got := rels[0].Labels[LabelProjectForTest]; got != "test" {
		t.Errorf("helm 3 sees labels %v", rels[0].Labels)
	}
	if got := rels[0].Config["message"]; got != "two" {
		t.Errorf("helm 3 sees values %v", rels[0].Config)
	}
	hist, err := v3action.NewHistory(cfg3).Run("web")
	if err != nil || len(hist) != 2 {
		t.Fatalf("helm 3 history = %d revisions, %v", len(hist), err)
	}

	// Helm 3 installs one (with this project's labels); devtool upgrades it.
	ch3, err := v3loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := v3action.NewInstall(cfg3)
	in.ReleaseName, in.Namespace, in.Labels = "legacy", ns, projectLabels
	if _, err := in.RunWithContext(ctx, ch3, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	legacy := upgradeReq(ch, ns, map[string]any{"message": "from devtool"})
	legacy.Release.Name = "legacy"
	rel, err := e.client.UpgradeRelease(ctx, legacy)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Action != Upgraded || rel.Revision != 2 {
		t.Fatalf("upgrade of a Helm 3 release: %+v", rel)
	}
}

// LabelProjectForTest is the project label the tests' releases carry.
const LabelProjectForTest = "devtool.dev/project"
