package scan_test

import (
	"context"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
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
