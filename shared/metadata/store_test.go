package metadata

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is a Store for tests of Refresh.
type memStore struct {
	mu   sync.Mutex
	recs map[string]Record
}

func (m *memStore) Load(_ context.Context, id string) (*Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.recs[id]; ok {
		return &r, nil
	}
	return nil, nil
}

func (m *memStore) Save(_ context.Context, id string, r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = map[string]Record{}
	}
	m.recs[id] = r
	return nil
}

func TestRefreshKeepsLastGoodMetadata(t *testing.T) {
	signer := key(t, "rsa-federation")
	good := sign(t, fixtureAggregate(t, ""), signer, signOpts{})
	var mu sync.Mutex
	serve := good
	etag := `"1"`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Write(serve)
	}))
	defer srv.Close()
	set := func(body []byte, tag string) { mu.Lock(); serve, etag = body, tag; mu.Unlock() }

	store := &memStore{}
	f := &Fetcher{Client: srv.Client(), Now: func() time.Time { return testNow }}
	src := Source{URL: srv.URL + "/md.xml", EntityID: partnerID, AllowHTTP: true, Network: loopback}
	ctx := context.Background()

	obs, err := Refresh(ctx, f, store, "fed-1", src, signer.trust(), testNow)
	if err != nil || obs.Err != nil || obs.Entity == nil || !obs.Trusted || obs.Last != nil {
		t.Fatalf("first refresh: %v %+v", err, obs)
	}
	first, _ := store.Load(ctx, "fed-1")
	if first == nil || first.ETag != `"1"` || !first.Signature.Verified {
		t.Fatalf("record %+v", first)
	}

	obs, _ = Refresh(ctx, f, store, "fed-1", src, signer.trust(), testNow)
	if !obs.NotModified || obs.Entity == nil || obs.Entity.EntityID != partnerID || obs.Err != nil {
		t.Fatalf("304 refresh: %+v", obs)
	}

	tampered := bytes.Replace(good, []byte("idp.partner.example/sso"), []byte("evil.example.org/sso"), 1)
	set(tampered, `"2"`)
	obs, _ = Refresh(ctx, f, store, "fed-1", src, signer.trust(), testNow)
	if KindOf(obs.Err) != KindSignature || obs.Entity != nil || obs.Last == nil {
		t.Fatalf("tampered refresh: %+v", obs)
	}
	if !strings.Contains(obs.Err.Error(), srv.URL) {
		t.Errorf("the error should say which URL: %v", obs.Err)
	}
	kept, _ := store.Load(ctx, "fed-1")
	if kept.DocumentSHA256 != first.DocumentSHA256 || kept.ETag != `"1"` {
		t.Fatalf("a failed refresh replaced the last good record: %+v", kept)
	}

	srv.Close()
	obs, _ = Refresh(ctx, f, store, "fed-1", src, signer.trust(), testNow)
	if KindOf(obs.Err) != KindUnreachable || obs.Last == nil {
		t.Fatalf("unreachable refresh: %+v", obs)
	}
}
