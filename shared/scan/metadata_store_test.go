package scan_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// The last good metadata survives a round trip through the state store
// (Blob in Azure, a folder locally), partner IDs compare case-insensitively,
// and an ID cannot escape its folder.
func TestStateMetadataStoreRoundTrip(t *testing.T) {
	blob, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{ConnectionString: azuritetest.Start(t), Container: "metadata-test"})
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]statestore.Store{"dir": statestore.Dir{Root: t.TempDir()}, "blob": blob} {
		t.Run(name, func(t *testing.T) {
			s := scan.StateMetadataStore{State: st}
			ctx := context.Background()
			if rec, err := s.Load(ctx, "fed-1"); rec != nil || err != nil {
				t.Fatalf("empty store: %v %v", rec, err)
			}
			at := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
			rec := metadata.Record{PartnerID: "fed-1", FetchedAt: at, URL: "https://md.example/", ETag: `"e"`, DocumentSHA256: "ab12",
				Entity: metadata.Entity{EntityID: "https://idp.example/"}}
			if err := s.Save(ctx, "fed-1", rec); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load(ctx, "FED-1")
			if err != nil || got == nil || got.Entity.EntityID != "https://idp.example/" || !got.FetchedAt.Equal(at) || got.Validators().ETag != `"e"` {
				t.Fatalf("round trip: %+v %v", got, err)
			}
			if err := s.Save(ctx, "../../escape", rec); err != nil {
				t.Fatalf("an odd partner ID must be encoded, not refused or escaped: %v", err)
			}
			if got, _ := s.Load(ctx, "../../escape"); got == nil {
				t.Fatal("the encoded ID does not load back")
			}
		})
	}
}

// A refresh that fails after the last good one is kept, so a report made
// from the store without fetching (the ScanTimer's) shows the partner as
// failing — not as stale, which would say the refresh had merely not run.
func TestLastRefreshOutcomeMakesFailingNotStale(t *testing.T) {
	ctx := context.Background()
	cfg := exampleConfig(t)
	tn, err := scan.Open(cfg, scan.Source{SnapshotDir: examplePath("tenant")})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := tn.Reader.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fab, err := scan.FindFederation(inv, "Fabrikam")
	if err != nil {
		t.Fatal(err)
	}
	store := scan.StateMetadataStore{State: statestore.Dir{Root: t.TempDir()}}
	// A good refresh (the snapshot replays the partner's metadata).
	if _, err := tn.PlanPartner(ctx, cfg, *fab, scan.MetadataOptions{Store: store}, capturedAt); err != nil {
		t.Fatal(err)
	}
	status := func(at time.Time) (string, string) {
		plans, err := scan.LastGoodPlans(ctx, cfg, inv, store, at)
		if err != nil {
			t.Fatal(err)
		}
		r := report.Build(inv, nil, at, "x", report.WithConfig(cfg), report.WithMetadata(scan.MetadataChecks(plans)))
		for _, p := range r.Partners {
			if p.Name == "Fabrikam" {
				return p.Metadata.Status, p.Metadata.Reason
			}
		}
		return "", ""
	}
	if s, _ := status(capturedAt.Add(time.Hour)); s != report.MetadataVerified {
		t.Fatalf("after a good refresh: %s", s)
	}
	if s, _ := status(capturedAt.Add(72 * time.Hour)); s != report.MetadataStale {
		t.Fatalf("three days without a refresh: %s", s)
	}
	// The next refresh fails: the partner's server answers 503.
	failing := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 503, Status: "503 Service Unavailable", Header: http.Header{}, Body: io.NopCloser(strings.NewReader("down")), Request: r}, nil
	})}
	pp, err := tn.PlanPartner(ctx, cfg, *fab, scan.MetadataOptions{Store: store, Client: failing}, capturedAt.Add(70*time.Hour))
	if err != nil || pp.Plan.Outcome != metadata.OutcomeMetadataFailure {
		t.Fatalf("failing refresh: %v %v", pp.Plan.Outcome, err)
	}
	s, reason := status(capturedAt.Add(72 * time.Hour))
	if s != report.MetadataFailing || !strings.Contains(reason, "http-status") {
		t.Errorf("after a failed refresh: %s (%s)", s, reason)
	}
	// A good refresh after it clears the failure.
	if _, err := tn.PlanPartner(ctx, cfg, *fab, scan.MetadataOptions{Store: store}, capturedAt.Add(73*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s, _ := status(capturedAt.Add(74 * time.Hour)); s != report.MetadataVerified {
		t.Errorf("after recovering: %s", s)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
