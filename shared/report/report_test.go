package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := now.Add(d); return &t }

const connID = "9b2f4c1e-7d3a-4e8f-b6a1-0c5d2e9f8a71"

// tenant is an inventory that produces most finding kinds.
func tenant() inventory.Inventory {
	return inventory.Inventory{
		CapturedAt: now.Add(-time.Hour),
		TenantID:   "6f1c2a9e-4b7d-4c1e-9a53-2d8e0f7b1c44",
		SocialIdentityProviders: []inventory.SocialIdentityProvider{
			{ID: "Google-OAUTH", DisplayName: "Google", Type: "Google"},
			{ID: "Facebook-OAUTH", DisplayName: "Facebook", Type: "Facebook"},
		},
		Federations: []inventory.Federation{{
			ID: "0f8fad5b-d9cb-469f-a165-70867728950e", DisplayName: "Fabrikam with a rather long display name for truncation",
			Domains:            []string{"fabrikam.example"},
			SigningCertificate: &inventory.Certificate{SHA1: "AA", SHA256: "BB", NotBefore: now.Add(-300 * day), NotAfter: now.Add(5 * day)},
		}},
		APIConnectors: []inventory.APIConnector{
			{ID: connID, DisplayName: "Sign-up validation", TargetURL: "http://api.contoso.com/x", AuthType: inventory.AuthBasic},
		},
		Secrets: []inventory.Secret{{
			Vault: "https://kv.vault.azure.net/", Name: "google-client-secret", Version: "v1",
			Created: at(-10 * day), Expires: at(-2 * day), Tags: map[string]string{inventory.TagDependency: "social/Google-OAUTH"},
		}},
		UserFlows: []inventory.UserFlow{{
			ID: "B2X_1_partners", IdentityProviders: []inventory.UserFlowIdentityProvider{{ID: "Google-OAUTH"}, {ID: "EmailOtpSignup-OAUTH"}}, PostAttributeCollection: connID,
		}},
		EmailOTP: &inventory.EmailOTP{State: "disabled"},
		Gaps:     []inventory.Gap{{Source: "keyvault:https://other.vault.azure.net/", Reason: "403 Forbidden: caller lacks secrets/list"}},
	}
}

func testConfig() *config.Config {
	c := config.Default()
	c.Owners = []config.Owner{{Name: "identity-team", Email: "identity@contoso.com", Internal: true}}
	c.FallbackAdmin = "admins@contoso.com"
	c.Dependencies = []config.Dependency{{Ref: "social/Google-OAUTH", Owner: "identity-team"}}
	return c
}

func build(t *testing.T) Report {
	t.Helper()
	inv := tenant()
	return Build(inv, assess.Assess(inv, testConfig(), now), now, "snapshot:examples/tenant")
}

func TestJSONMatchesSchema(t *testing.T) {
	r := build(t)
	var buf bytes.Buffer
	if err := Write(&buf, r, "json"); err != nil {
		t.Fatal(err)
	}
	validate(t, buf.Bytes())

	// An empty report (no findings, no owner, no dates) has the same shape.
	empty := Build(inventory.Inventory{}, nil, now, "tenant:x")
	buf.Reset()
	if err := Write(&buf, empty, "json"); err != nil {
		t.Fatal(err)
	}
	validate(t, buf.Bytes())
	for _, want := range []string{`"findings": []`, `"gaps": []`, `"worstSeverity": null`, `"capturedAt": null`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("empty report lacks %s:\n%s", want, buf.String())
		}
	}

	// The schema really constrains: a tampered report must fail.
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	doc["findings"] = []any{map[string]any{"id": "x"}}
	bad, _ := json.Marshal(doc)
	if err := schema(t).Validate(mustUnmarshal(t, bad)); err == nil {
		t.Error("schema accepted a malformed finding")
	}
}

func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := filepath.Join("..", "..", "docs", "report.schema.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const id = "https://github.com/idpkeeper/idpkeeper/docs/report.schema.json"
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return s
}

func mustUnmarshal(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func validate(t *testing.T, b []byte) {
	t.Helper()
	if err := schema(t).Validate(mustUnmarshal(t, b)); err != nil {
		t.Fatalf("report does not match docs/report.schema.json: %v\n%s", err, b)
	}
}

func TestJSONFieldsAndTimes(t *testing.T) {
	r := build(t)
	r.GeneratedAt = now
	var buf bytes.Buffer
	if err := Write(&buf, r, "JSON"); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	for _, want := range []string{
		`"schemaVersion": "1"`,
		`"evaluatedAt": "2026-11-24T12:00:00Z"`,
		`"capturedAt": "2026-11-24T11:00:00Z"`,
		`"source": "snapshot:examples/tenant"`,
		`"severity": "expired"`,
		`"due": "2026-11-22T12:00:00Z"`,
		`"worstSeverity": "expired"`,
		"\n  \"summary\": {\n    \"findings\": ",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("report does not round-trip: %v", err)
	}
	if back.Summary.Findings != len(r.Findings) || back.Findings[0].Severity != r.Findings[0].Severity {
		t.Errorf("round trip changed the report")
	}
}

func TestBuildSummaryAndOrder(t *testing.T) {
	r := build(t)
	s := r.Summary
	if s.Findings != len(r.Findings) || s.BySeverity.Info+s.BySeverity.Warning+s.BySeverity.Critical+s.BySeverity.Expired != s.Findings {
		t.Errorf("counts do not add up: %+v", s)
	}
	if s.BySeverity.Expired != 2 || *s.WorstSeverity != assess.Expired { // the Google secret and the flow using it
		t.Errorf("severity counts: %+v", s.BySeverity)
	}
	want := DependencyCounts{Social: 2, Federation: 1, Connector: 1, UserFlow: 1, EmailOTP: 1, Secrets: 1}
	if s.Dependencies != want {
		t.Errorf("dependencies %+v, want %+v", s.Dependencies, want)
	}
	for i := 1; i < len(r.Findings); i++ {
		a, b := r.Findings[i-1], r.Findings[i]
		if a.Due == nil && b.Due != nil || a.Due != nil && b.Due != nil && a.Due.After(*b.Due) {
			t.Errorf("findings not sorted by due at %d", i)
		}
	}
	// Build must not share the caller's slices.
	fs := []assess.Finding{{ID: "F-000000000001", Kind: "k", Action: "Do it.", Detail: map[string]string{"a": "b"}}}
	r2 := Build(inventory.Inventory{}, fs, now, "x")
	r2.Findings[0].Detail["a"] = "changed"
	if fs[0].Detail["a"] != "b" {
		t.Error("Build shares the finding's detail map")
	}
}

func TestTable(t *testing.T) {
	r := build(t)
	var buf bytes.Buffer
	if err := Write(&buf, r, "table"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for i, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > Width {
			t.Errorf("line %d is %d wide:\n%s", i+1, n, line)
		}
		if strings.HasSuffix(line, " ") {
			t.Errorf("line %d has trailing spaces", i+1)
		}
	}
	for _, want := range []string{
		"IdP Keeper report for tenant 6f1c2a9e-4b7d-4c1e-9a53-2d8e0f7b1c44",
		"DUE                      SEVERITY  KIND",
		"    ACTION\n",
		"2026-11-22 (2 days ago)  expired   social-secret-expired",
		"Google (social)",
		"identity-team",
		"fallback admin\n",
		`"fallback admin" is admins@contoso.com: name owners in the config`,
		"2026-11-29 (in 5 days)",
		"Fabrikam with a rather lo…",
		"INCOMPLETE: these could not be read",
		"  - keyvault:https://other.vault.azure.net/: 403 Forbidden",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Rows come in due order: the expired secret before the certificate.
	if strings.Index(out, "social-secret-expired") > strings.Index(out, "federation-cert-expiring") {
		t.Error("table is not sorted by due date")
	}
	// Default format is the table.
	var def bytes.Buffer
	if err := Write(&def, r, ""); err != nil || def.String() != out {
		t.Errorf("empty format should render the table: %v", err)
	}

	buf.Reset()
	if err := Write(&buf, Build(inventory.Inventory{}, nil, now, "tenant:x"), "table"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No findings.") || strings.Contains(buf.String(), "INCOMPLETE") {
		t.Errorf("empty table:\n%s", buf.String())
	}
}

func TestDueCell(t *testing.T) {
	tests := []struct {
		due  *time.Time
		want string
	}{
		{nil, "-"},
		{at(0), "2026-11-24 (today)"},
		{at(11 * time.Hour), "2026-11-24 (today)"},
		{at(12 * time.Hour), "2026-11-25 (in 1 day)"},
		{at(30 * day), "2026-12-24 (in 30 days)"},
		{at(-12*time.Hour - time.Second), "2026-11-23 (1 day ago)"},
		{at(-400 * day), "2025-10-20 (400 days ago)"},
	}
	for _, tt := range tests {
		if got := dueCell(tt.due, now); got != tt.want {
			t.Errorf("dueCell(%v) = %q, want %q", tt.due, got, tt.want)
		}
	}
}

func TestWrapAndTruncate(t *testing.T) {
	if got := wrap("aaa bbb ccc", 7); strings.Join(got, "|") != "aaa bbb|ccc" {
		t.Errorf("wrap = %q", got)
	}
	if got := wrap("abcdefghij", 4); strings.Join(got, "|") != "abcd|efgh|ij" {
		t.Errorf("long word = %q", got)
	}
	if got := truncate("héllo wörld", 6); got != "héllo…" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("short", 6); got != "short" {
		t.Errorf("truncate = %q", got)
	}
}

func TestUnknownFormat(t *testing.T) {
	err := Write(&bytes.Buffer{}, build(t), "xml")
	if err == nil || !strings.Contains(err.Error(), `unknown report format "xml"`) {
		t.Errorf("err = %v", err)
	}
}

func TestExitCode(t *testing.T) {
	r := Report{Findings: []assess.Finding{{Severity: assess.Warning}, {Severity: assess.Critical}}}
	tests := []struct {
		failOn string
		want   int
		err    bool
	}{
		{"", ExitOK, false},
		{"never", ExitOK, false},
		{"info", ExitFindings, false},
		{"warning", ExitFindings, false},
		{"Critical", ExitFindings, false},
		{"expired", ExitOK, false},
		{"high", ExitUsage, true},
	}
	for _, tt := range tests {
		got, err := ExitCode(r, tt.failOn)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ExitCode(%q) = %d, %v; want %d, err=%v", tt.failOn, got, err, tt.want, tt.err)
		}
	}
	if got, _ := ExitCode(Report{}, "info"); got != ExitOK {
		t.Errorf("no findings should exit 0, got %d", got)
	}
}

// TestDocsListEveryKind keeps docs/report-schema.md in step with the code.
func TestDocsListEveryKind(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "report-schema.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range assess.Kinds {
		if !strings.Contains(string(b), "`"+k+"`") {
			t.Errorf("docs/report-schema.md does not document kind %s", k)
		}
	}
}
