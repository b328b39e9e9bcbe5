package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
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
	if code != exitOK || !strings.Contains(out, "federation-cert-expired") || !strings.Contains(out, "21 findings") {
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
		{[]string{"scan", "--snapshot", exampleSnapshot, "--format", "xml"}, exitUsage, "--format must be table, json or html"},
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

func TestRunCommandIsADryRunOfTheWholePipeline(t *testing.T) {
	state, outbox := t.TempDir(), t.TempDir()
	args := []string{"run", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--state", state, "--outbox", outbox}
	code, out, errOut := runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var summary struct {
		Findings int
		Queue    struct{ Delivered, Completed, DeadLettered int }
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil {
		t.Fatalf("last line is not the JSON summary: %q", lines[len(lines)-1])
	}
	// The same findings scan reports (a partner's pending rollover is
	// learnt by the metadata job: run re-judges after its jobs).
	_, scanOut, _ := runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--format", "json")
	var scanned struct{ Findings []struct{ Kind string } }
	json.Unmarshal([]byte(scanOut), &scanned)
	if summary.Findings != len(scanned.Findings) || summary.Findings != 21 || summary.Queue.Delivered == 0 || summary.Queue.Completed != summary.Queue.Delivered || summary.Queue.DeadLettered != 0 {
		t.Errorf("summary = %+v", summary)
	}
	notices, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	if len(notices) == 0 || strings.Count(out, "notice F-") != len(notices) {
		t.Fatalf("%d notices in the outbox, %d lines on stdout", len(notices), strings.Count(out, "notice F-"))
	}
	// A second run the same day sends nothing new: one notice per stage, ever.
	code, out, _ = runCLI(t, args...)
	again, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	if code != exitOK || strings.Contains(out, "notice F-") || len(again) != len(notices) {
		t.Errorf("second run sent notices again: %d → %d\n%s", len(notices), len(again), out)
	}
}

func TestEventsHandleCommand(t *testing.T) {
	code, out, errOut := runCLI(t, "events", "handle", "../examples/events/secret-near-expiry.json", "--snapshot", exampleSnapshot, "--config", exampleConfig)
	var line struct {
		ID, EventType, Outcome, Reason string
		Jobs                           []struct{ Kind, MessageID, Dependency string }
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &line); err != nil || code != exitOK {
		t.Fatalf("exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if line.Outcome != "queued" || len(line.Jobs) != 1 || line.Jobs[0].Dependency != "social/Facebook-OAUTH" || line.Jobs[0].Kind != "rotate-credential" {
		t.Errorf("outcome line = %+v", line)
	}

	bad := filepath.Join(t.TempDir(), "events.json")
	os.WriteFile(bad, []byte(`[{"id":"a","eventType":"Microsoft.KeyVault.SecretNearExpiry","data":{"VaultName":"contoso-idp-kv"}},
		{"id":"b","eventType":"Microsoft.Storage.BlobCreated","data":{"url":"x"}}]`), 0o644)
	code, out, _ = runCLI(t, "events", "handle", bad, "--snapshot", exampleSnapshot)
	if code != exitFindings || !strings.Contains(out, `"outcome":"rejected"`) || !strings.Contains(out, `"outcome":"ignored"`) || strings.Count(out, "\n") != 2 {
		t.Errorf("mixed file: exit %d\n%s", code, out)
	}
}

func TestAckCommand(t *testing.T) {
	state, outbox := t.TempDir(), t.TempDir()
	if code, out, errOut := runCLI(t, "run", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--state", state, "--outbox", outbox); code != exitOK {
		t.Fatalf("run: %d %s %s", code, out, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	finding := strings.SplitN(filepath.Base(files[0]), "-", 3)
	id := finding[0] + "-" + finding[1]
	until := time.Now().AddDate(0, 0, 14).Format("2006-01-02")
	code, out, errOut := runCLI(t, "ack", id, "--until", until, "--state", state, "--note", "partner on it")
	if code != exitOK || !strings.Contains(out, "paused until "+until) {
		t.Fatalf("ack: exit %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "ack", "F-000000000000", "--until", until, "--state", state); code != exitUsage || !strings.Contains(errOut, "not in the ledger") {
		t.Errorf("unknown finding: %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "ack", id, "--until", "2020-01-01", "--state", state); code != exitUsage {
		t.Errorf("past date accepted")
	}
}

func TestProbeCommandsAreWired(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"version":"1.0.0","action":"ShowBlockPage","userMessage":"Closed."}`)
	}))
	defer api.Close()
	code, out, _ := runCLI(t, "probe", "api", api.URL, "--format", "json")
	if code != exitOK || !strings.Contains(out, `"outcome": "block"`) || !strings.Contains(out, `"userMessage": "Closed."`) {
		t.Errorf("probe api: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, "probe", "connector", "Nope", "--snapshot", exampleSnapshot); code != exitUsage {
		t.Errorf("unknown connector: exit %d", code)
	}
	if code, _, _ := runCLI(t, "probe"); code != exitUsage {
		t.Errorf("bare probe: exit %d", code)
	}
}

func TestConnectorSteps(t *testing.T) {
	inv := inventory.Inventory{UserFlows: []inventory.UserFlow{
		{ID: "a", PostFederationSignup: "c1", PostAttributeCollection: "c2"},
		{ID: "b", PostAttributeCollection: "c1"},
	}}
	got := pipeline.ConnectorSteps(inv, "c1")
	if len(got) != 2 || got[0] != "postFederationSignup" || got[1] != "postAttributeCollection" {
		t.Errorf("steps of c1 = %v", got)
	}
	if got := pipeline.ConnectorSteps(inv, "unused"); len(got) != 1 || got[0] != "postFederationSignup" {
		t.Errorf("steps of an unused connector = %v", got)
	}
}

// copySnapshot copies examples/tenant and lets edit change the body of the
// recorded answer whose URL ends with urlSuffix.
func copySnapshot(t *testing.T, urlSuffix string, edit func(ex map[string]any)) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "responses"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(exampleSnapshot, "snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "snapshot.json"), data, 0o644)
	files, _ := filepath.Glob(filepath.Join(exampleSnapshot, "responses", "*.json"))
	edited := 0
	for _, f := range files {
		data, _ := os.ReadFile(f)
		var ex map[string]any
		if err := json.Unmarshal(data, &ex); err != nil {
			t.Fatal(err)
		}
		if u, _ := ex["url"].(string); strings.HasSuffix(u, urlSuffix) {
			edit(ex)
			edited++
			data, _ = json.Marshal(ex)
		}
		os.WriteFile(filepath.Join(dir, "responses", filepath.Base(f)), data, 0o644)
	}
	if edited == 0 {
		t.Fatalf("no recorded answer for %s", urlSuffix)
	}
	return dir
}

// Issue 12 (3, 4): a recorded Graph answer with "body": null, or a
// collection that is not an object with a value array, fails the scan with
// exit 3 and the request and reason — no panic (exit 2), no empty list that
// makes the expired Facebook secret disappear. A recorded 400 fails the same
// way, with Graph's message.
func TestScanFailsOnMalformedOrRefusedAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
		msg  string
	}{
		{"null body", func(ex map[string]any) { ex["body"] = nil }, "GET /identity/identityProviders: unexpected answer: the body is null, not a JSON object"},
		{"empty object", func(ex map[string]any) { ex["body"] = map[string]any{} }, "GET /identity/identityProviders: unexpected answer: the object has no value array"},
		{"null value", func(ex map[string]any) { ex["body"] = map[string]any{"value": nil} }, "GET /identity/identityProviders: unexpected answer: value is null, not an array"},
		{"a string", func(ex map[string]any) { ex["body"] = "value" }, "GET /identity/identityProviders: unexpected answer: the body is a string, not a JSON object"},
		{"400", func(ex map[string]any) {
			ex["status"] = 400
			ex["body"] = map[string]any{"error": map[string]any{"code": "BadRequest", "message": "Resource not found for the segment 'identityProviders'."}}
		}, "GET /identity/identityProviders: HTTP 400 BadRequest: Resource not found for the segment 'identityProviders'."},
	} {
		dir := copySnapshot(t, "/v1.0/identity/identityProviders", tc.edit)
		code, out, errOut := runCLI(t, "scan", "--snapshot", dir, "--config", exampleConfig)
		if code != exitRead || !strings.Contains(errOut, tc.msg) || out != "" {
			t.Errorf("%s: exit %d, stderr %q, stdout %d bytes; want exit %d with %q", tc.name, code, errOut, len(out), exitRead, tc.msg)
		}
	}
}
