package cli

import "github.com/devtool/devtool/pkg/plan"

// ValidationReport is `devtool validate -o json`. Fields are in alphabetical order (the
// document's first shape was a map, whose keys encoding/json sorts).
type ValidationReport struct {
	APIVersion    string `json:"apiVersion"`
	Commands      int    `json:"commands"`
	Components    int    `json:"components"`
	DeployCommand string `json:"deployCommand"`
	Devfile       string `json:"devfile"`
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	SchemaVersion string `json:"schemaVersion"`
	Valid         bool   `json:"valid"`
	// Warnings are the undefined variables the deploy command uses (omitted when none).
	Warnings []string `json:"warnings,omitempty"`
}

// PlanDocument is `devtool plan --format json`: the plan with apiVersion and kind "Plan".
type PlanDocument struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	*plan.Plan
}

// VersionDocument is `devtool version -o json`.
type VersionDocument struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Version    string `json:"version"`
}
