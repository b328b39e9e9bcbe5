package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

const exampleSnapshot = "../examples/tenant"
const exampleConfig = "../examples/idpkeeper.yaml"

func TestScanCommandContract(t *testing.T) {
	code, out, errOut := runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", exampleConfig)
	if code != exitOK || !strings.Contains(out, "federation-cert-expired") || !strings.Contains(out, "17 findings") {
		t.Fatalf("table scan: exit %d\n%s\n%s", code, out, errOut)
	}
	// The table is sorted by due date: the first dated row is the oldest.
	if strings.Index(out, "2025-01-31") > strings.Index(out, "2026-12-10") {
		t.Error("table is not sorted by due date")
	}

	code, out, _ = runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--format", "json", "--now", "2026-12-11")
	var rep struct {
		SchemaVersion string `json:"schemaVersion"`
		EvaluatedAt   string `json:"evaluatedAt"`
		Findings      []struct {
			Kind       string `json:"kind"`
			Severity   string `json:"severity"`
			Dependency struct{ Name string }
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK {
		t.Fatalf("json scan: exit %d, %v\n%s", code, err, out)
	}
	if rep.SchemaVersion != "1" || rep.EvaluatedAt != "2026-12-11T00:00:00Z" {
		t.Errorf("schemaVersion %q evaluatedAt %q", rep.SchemaVersion, rep.EvaluatedAt)
	}
	fabrikamExpired := false
	for _, f := range rep.Findings {
		if f.Kind == "federation-cert-expired" && f.Dependency.Name == "Fabrikam" && f.Severity == "expired" {
			fabrikamExpired = true
		}
	}
	if !fabrikamExpired {
		t.Error("--now 2026-12-11 does not show Fabrikam's certificate as expired")
	}

	if code, _, _ := runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--fail-on", "expired"); code != exitFindings {
		t.Errorf("--fail-on expired with expired findings: exit %d, want 1", code)
	}
	if code, _, _ := runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--fail-on", "never"); code != exitOK {
		t.Errorf("--fail-on never: exit %d, want 0", code)
	}
}

func TestScanCommandErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"scan", "--snapshot", exampleSnapshot, "--format", "xml"}, exitUsage, "--format must be table or json"},
		{[]string{"scan", "--snapshot", exampleSnapshot, "--fail-on", "severe"}, exitUsage, `unknown severity "severe"`},
		{[]string{"scan", "--snapshot", exampleSnapshot, "--now", "yesterday"}, exitUsage, `"yesterday" is neither RFC 3339`},
		{[]string{"scan", "--snapshot", "does-not-exist"}, exitRead, "does-not-exist/snapshot.json"},
		{[]string{"scan", "--snapshot", exampleSnapshot, "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"snapshot"}, exitUsage, "snapshot export DIR"},
	}
	for _, c := range cases {
		code, _, errOut := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errOut, c.code, c.msg)
		}
	}
}

func TestScanCommandNamesTheBadConfigField(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "idpkeeper.yaml")
	os.WriteFile(bad, []byte("version: 1\ndefaults:\n  leadTime: soon\n"), 0o644)
	code, _, errOut := runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", bad)
	if code != exitUsage || !strings.Contains(errOut, "idpkeeper.yaml:3") || !strings.Contains(errOut, "defaults.leadTime") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestMetadataCommandsAreWired(t *testing.T) {
	code, out, errOut := runCLI(t, "metadata", "plan", "fabrikam.example", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--format", "json")
	var plan struct {
		Outcome   string `json:"outcome"`
		Action    string `json:"action"`
		PartnerID string `json:"partnerId"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil || code != exitOK {
		t.Fatalf("metadata plan: exit %d %v\n%s%s", code, err, out, errOut)
	}
	if plan.Outcome != "rollover-pending" || plan.PartnerID != "5a1d0c3e-2f4b-4e6a-8b7c-9d0e1f2a3b4c" {
		t.Errorf("plan = %+v, want the example's pending rollover for Fabrikam", plan)
	}
	code, _, errOut = runCLI(t, "metadata", "plan", "contoso.example", "--snapshot", exampleSnapshot, "--config", exampleConfig)
	if code != exitUsage || !strings.Contains(errOut, `no federation partner "contoso.example"`) || !strings.Contains(errOut, "Fabrikam") {
		t.Errorf("unknown partner: exit %d %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "metadata", "plan", "Adatum", "--snapshot", exampleSnapshot, "--config", exampleConfig)
	if code != exitUsage || !strings.Contains(errOut, "no metadata URL") {
		t.Errorf("partner without metadata URL: exit %d %s", code, errOut)
	}

	// inspect reads the document the example snapshot recorded for Fabrikam.
	var ex struct {
		BodyText string `json:"bodyText"`
	}
	files, _ := filepath.Glob(filepath.Join(exampleSnapshot, "responses", "sts.fabrikam.example_*.json"))
	if len(files) != 1 {
		t.Fatalf("example snapshot has %d Fabrikam metadata responses", len(files))
	}
	data, _ := os.ReadFile(files[0])
	json.Unmarshal(data, &ex)
	doc := filepath.Join(t.TempDir(), "fabrikam.xml")
	os.WriteFile(doc, []byte(ex.BodyText), 0o644)
	code, out, errOut = runCLI(t, "metadata", "inspect", doc)
	if code != exitOK || !strings.Contains(out, "https://sts.fabrikam.example/adfs/services/trust") {
		t.Errorf("metadata inspect: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, _ := runCLI(t, "metadata"); code != exitUsage {
		t.Errorf("bare metadata: exit %d", code)
	}
}
