package scan_test

import (
	"bytes"
	"context"
	"flag"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

var capturedAt = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)

func examplePath(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", "..", "examples"}, parts...)...)
}

func exampleConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load(examplePath("idpkeeper.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func fixture(t testing.TB) *azurefake.Tenant {
	t.Helper()
	tn, err := azurefake.LoadTenant(examplePath("fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func find(fs []assess.Finding, kind, depName string) *assess.Finding {
	for i := range fs {
		if fs[i].Kind == kind && (depName == "" || fs[i].Dependency.Name == depName || fs[i].Dependency.ID == depName) {
			return &fs[i]
		}
	}
	return nil
}

// The whole slice through the real msgraph-sdk-go and azsecrets clients
// against the HTTPS fake: pages, a 429 with Retry-After, an OData 403.
func TestScanEndToEnd(t *testing.T) {
	srv := azurefake.NewServer(fixture(t))
	defer srv.Close()
	srv.PageSize = 2
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/identityProviders", Status: 429, RetryAfter: "1", Code: "TooManyRequests", Message: "Rate limit hit", Times: 1})
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/policies/crossTenantAccessPolicy", Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})

	res, err := scan.Run(context.Background(), scan.Options{
		Config: exampleConfig(t),
		Source: scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()},
		Now:    capturedAt,
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := res.Findings

	want := []struct {
		kind, dep string
		sev       assess.Severity
	}{
		{"federation-cert-expired", "Northwind Traders", assess.Expired},
		{"federation-cert-expiring", "Fabrikam", assess.Warning},
		{"federation-no-owner", "Litware", assess.Info},
		{"social-secret-expired", "Facebook", assess.Expired},
		{"connector-target-not-https", "Legacy CRM lookup", assess.Critical},
		{"connector-password-expiring", "Loyalty check", assess.Warning},
		{"connector-cert-expiring", "Partner registry", assess.Warning},
		{"inventory-incomplete", "", assess.Warning},
	}
	for _, w := range want {
		f := find(fs, w.kind, w.dep)
		if f == nil {
			t.Errorf("no %s finding for %q", w.kind, w.dep)
			continue
		}
		if f.Severity != w.sev {
			t.Errorf("%s %s: severity %s, want %s", w.kind, w.dep, f.Severity, w.sev)
		}
	}
	nw := find(fs, "federation-cert-expired", "Northwind Traders")
	if nw != nil && (strings.Join(nw.ImpactedDomains, ",") != "northwind.example,northwindtraders.example" ||
		len(nw.ImpactedUserFlows) != 1 || nw.ImpactedUserFlows[0] != "B2X_1_PartnerSignUp" ||
		nw.Owner == nil || nw.Owner.Email != "identity@northwind.example" || nw.Due == nil ||
		!nw.Due.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))) {
		t.Errorf("northwind finding = %+v", nw)
	}
	if f := find(fs, "userflow-at-risk", "B2X_1_PartnerSignUp"); f == nil || f.Severity != assess.Expired {
		t.Errorf("partner sign-up flow at risk = %+v", f)
	}
	if find(fs, "social-secret-expiring", "Google") != nil || find(fs, "social-secret-expired", "Google") != nil {
		t.Error("Google's secret (expires 2027-01-08) was reported within a 30-day lead time")
	}
	if res.Report.Summary.Findings != len(fs) || res.Report.Source != "tenant:8f3c2a10-5b7e-4d1a-9c66-0e2f4b8a7d31" {
		t.Errorf("report summary %+v source %q", res.Report.Summary, res.Report.Source)
	}

	var first, second time.Time
	for _, r := range srv.Requests() {
		if r.Path == "/v1.0/identity/identityProviders" && r.Query == "" {
			if first.IsZero() {
				first = r.At
			} else {
				second = r.At
			}
		}
	}
	if second.Sub(first) < 900*time.Millisecond {
		t.Errorf("the 429 was retried after %v, before its Retry-After of 1 s", second.Sub(first))
	}
}

// Secret values planted in Key Vault never reach a report in any format.
func TestScanNeverCarriesSecretValues(t *testing.T) {
	tn := fixture(t)
	const canary = "CANARY-9d2f-never-print-me"
	for _, v := range tn.Vaults {
		for i := range v.Secrets {
			for j := range v.Secrets[i].Versions {
				v.Secrets[i].Versions[j].Value = canary + v.Secrets[i].Name
			}
		}
	}
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	res, err := scan.Run(context.Background(), scan.Options{
		Config: exampleConfig(t),
		Source: scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"table", "json"} {
		var buf bytes.Buffer
		if err := report.Write(&buf, res.Report, format); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), canary) {
			t.Fatalf("%s report contains a secret value", format)
		}
	}
	if srv.SecretValueReads() != 0 {
		t.Fatalf("the scan read %d secret values from Key Vault", srv.SecretValueReads())
	}
}

// A snapshot scan is evaluated at capture time unless told otherwise.
func TestSnapshotScanEvaluatesAtCaptureTime(t *testing.T) {
	cfg := exampleConfig(t)
	res, err := scan.Run(context.Background(), scan.Options{Config: cfg, Source: scan.Source{SnapshotDir: examplePath("tenant")}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Report.EvaluatedAt.Equal(capturedAt) {
		t.Errorf("evaluated at %v, want the capture time %v", res.Report.EvaluatedAt, capturedAt)
	}
	if f := find(res.Findings, "federation-cert-expiring", "Fabrikam"); f == nil {
		t.Error("Fabrikam's certificate (2026-12-10) is not reported as expiring at capture time")
	}
	later, err := scan.Run(context.Background(), scan.Options{Config: cfg, Source: scan.Source{SnapshotDir: examplePath("tenant")}, Now: time.Date(2026, 12, 11, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if f := find(later.Findings, "federation-cert-expired", "Fabrikam"); f == nil {
		t.Error("with --now after 2026-12-10 Fabrikam's certificate is not expired")
	}
}

var update = flag.Bool("update", false, "rewrite examples/tenant from examples/fixture/tenant.json")

// examples/tenant is what `snapshot export` records from the example
// fixture; -update rewrites it after the fixture changes:
//
//	go test ./shared/scan -run TestExampleSnapshot -update
func TestExampleSnapshotMatchesFixture(t *testing.T) {
	srv := azurefake.NewServer(fixture(t))
	defer srv.Close()
	cfg := exampleConfig(t)
	live := scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}
	ctx := context.Background()
	if *update {
		res, _, err := scan.Export(ctx, cfg, live, examplePath("tenant"), capturedAt)
		if err != nil {
			t.Fatal(err)
		}
		// The watch's history (examples/fixture/watch.json) is recorded
		// with the snapshot, as `snapshot export` copies it from the state.
		if _, err := scan.ExportWatch(ctx, exampleWatchState(t, cfg, res.Inventory), cfg, res.Inventory, examplePath("tenant")); err != nil {
			t.Fatal(err)
		}
	}
	plain, err := scan.Run(ctx, scan.Options{Config: cfg, Source: live, Now: capturedAt})
	if err != nil {
		t.Fatal(err)
	}
	want, err := scan.Run(ctx, scan.Options{Config: cfg, Source: live, Now: capturedAt, Metadata: &scan.MetadataOptions{Store: &scan.MemoryStore{}},
		WatchState: exampleWatchState(t, cfg, plain.Inventory)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := scan.Run(ctx, scan.Options{Config: cfg, Source: scan.Source{SnapshotDir: examplePath("tenant")}, Metadata: &scan.MetadataOptions{Store: &scan.MemoryStore{}}})
	if err != nil {
		t.Fatal(err)
	}
	want.Inventory.CapturedAt = capturedAt // the live read stamps the wall clock
	if !reflect.DeepEqual(want.Inventory, got.Inventory) || !reflect.DeepEqual(want.Findings, got.Findings) || !reflect.DeepEqual(want.Report.Endpoints, got.Report.Endpoints) {
		t.Fatal("examples/tenant no longer matches examples/fixture/tenant.json and watch.json: go test ./shared/scan -run TestExampleSnapshot -update")
	}
	if f := find(got.Findings, assess.KindFederationMetadataRollover, "Fabrikam"); f == nil {
		t.Errorf("the example's Fabrikam metadata (current and next certificate) is not reported as a pending rollover")
	}
	// The recorded watch history shows in the offline scan.
	for _, w := range []struct {
		kind, dep string
		sev       assess.Severity
	}{
		{assess.KindEndpointDown, "Adatum", assess.Expired},
		{assess.KindEndpointRecovered, "Fabrikam", assess.Info},
		{assess.KindEndpointTLSExpiring, "Litware", assess.Critical},
		{assess.KindEndpointDegraded, "Partner registry", assess.Warning},
	} {
		if f := find(got.Findings, w.kind, w.dep); f == nil || f.Severity != w.sev {
			t.Errorf("%s of %s: %+v", w.kind, w.dep, f)
		}
	}
	if len(got.Report.Endpoints) != 12 {
		t.Errorf("%d endpoints with availability in the report, want 12", len(got.Report.Endpoints))
	}
	// Fabrikam publishes its successor: the certificate finding says so.
	if f := find(got.Findings, assess.KindFederationCertExpiring, "Fabrikam"); f == nil || f.Detail["successorThumbprint"] == "" || !strings.Contains(f.Action, "switch date") {
		t.Errorf("Fabrikam's certificate finding ignores the published successor: %+v", f)
	}
}
