package scan

import (
	"context"
	"net/http"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/netguard"
	"github.com/idpkeeper/idpkeeper/shared/snapshot"
)

// Export scans the live source with a recorder under the SDK clients and
// saves what was read (Graph and Key Vault responses, partner metadata, never
// a secret value) as a snapshot in dir. capturedAt stamps the snapshot; zero
// means now.
func Export(ctx context.Context, cfg *config.Config, src Source, dir string, capturedAt time.Time) (Result, *Tenant, error) {
	if capturedAt.IsZero() {
		capturedAt = time.Now()
	}
	capturedAt = capturedAt.UTC()
	live := src.Transport == nil
	rec := snapshot.NewRecorder(src.Transport)
	src.Transport = rec
	t, err := OpenContext(ctx, cfg, src)
	if err != nil {
		return Result{}, nil, err
	}
	if live {
		// Partner metadata is recorded too, but fetched under the
		// partner's network policy like in a live scan.
		t.metadataTransport = func(p netguard.Policy) http.RoundTripper {
			return rec.Through(netguard.NewTransport(netguard.Options{Policy: p}))
		}
	}
	t.Reader.Now = func() time.Time { return capturedAt }
	// A memory store has no validators, so every metadata document is
	// fetched whole (never a 304) and lands in the snapshot.
	res, err := t.Scan(ctx, cfg, capturedAt, nil, &MetadataOptions{Store: &MemoryStore{}})
	if err != nil {
		return Result{}, nil, err
	}
	m := snapshot.Manifest{CapturedAt: capturedAt, TenantID: res.Inventory.TenantID, KeyVaults: t.KeyVaults, SecretNames: t.SecretNames}
	if err := rec.Save(dir, m); err != nil {
		return Result{}, nil, err
	}
	return res, t, nil
}
