package watch_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

func stateStores(t *testing.T) map[string]statestore.Store {
	t.Helper()
	blob, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{ConnectionString: azuritetest.Start(t), Container: "idpkeeper-watch"})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]statestore.Store{"blob": blob, "dir": statestore.Dir{Root: t.TempDir()}, "memory": &watch.Memory{}}
}

func testEndpoint() watch.Endpoint {
	ep := watch.Endpoint{Role: watch.RoleSignIn, URL: "https://sts.fabrikam.example/adfs/ls/?x=1"}
	ep.Dependency.Ref, ep.Dependency.Name = "federation/fed-1", "Fabrikam"
	ep.Display = watch.DisplayURL(ep.URL)
	ep.Key = watch.EndpointKey(ep.Dependency.Ref, ep.Role, ep.Step, ep.Display)
	return ep
}

// Each result is appended to the endpoint's document in Blob Storage
// (Azurite), a folder or memory; a repeat is not written twice; the URL's
// query never reaches the store.
func TestStoreAppends(t *testing.T) {
	ctx := context.Background()
	ep := testEndpoint()
	for name, st := range stateStores(t) {
		t.Run(name, func(t *testing.T) {
			s := watch.Store{State: st}
			if h, etag, err := s.Load(ctx, ep.Key); h != nil || etag != "" || err != nil {
				t.Fatalf("empty store: %v %q %v", h, etag, err)
			}
			for i := 0; i < 30; i++ {
				if _, err := s.Record(ctx, ep, up(t0.Add(time.Duration(i)*time.Minute)), rules); err != nil {
					t.Fatal(err)
				}
			}
			_, etag, _ := s.Load(ctx, ep.Key)
			if _, err := s.Record(ctx, ep, up(t0.Add(29*time.Minute)), rules); err != nil {
				t.Fatal(err)
			}
			h, etag2, err := s.Load(ctx, ep.Key)
			if err != nil || len(h.Results) != 30 || etag2 != etag {
				t.Errorf("%d results after 30 appends and one repeat (rewritten: %v), %v", len(h.Results), etag2 != etag, err)
			}
			if h.Endpoint.Endpoint != "https://sts.fabrikam.example/adfs/ls/" || h.Endpoint.Key != ep.Key || h.Version != watch.HistoryVersion {
				t.Errorf("history %+v", h.Endpoint)
			}
			data, _, _ := st.Get(ctx, watch.DocumentName(ep.Key))
			if strings.Contains(string(data), "x=1") {
				t.Error("the URL's query is stored")
			}
		})
	}
}

// Concurrent writers of increasing results in one process never lose one:
// every conditional write that loses the race retries on the new document.
func TestStoreConcurrentWritersLoseNothing(t *testing.T) {
	ctx := context.Background()
	ep := testEndpoint()
	st := statestore.Dir{Root: t.TempDir()}
	s := watch.Store{State: st}
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				// Hold the lock until recorded, so results arrive in order
				// but writers still race on reading and writing.
				if i >= 40 {
					mu.Unlock()
					return
				}
				_, err := s.Record(ctx, ep, up(t0.Add(time.Duration(i)*time.Minute)), rules)
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	h, _, _ := s.Load(ctx, ep.Key)
	if len(h.Results) != 40 {
		t.Errorf("%d of 40 results kept", len(h.Results))
	}
}

// A seed (a snapshot's recorded history) is continued, never written; a
// document that does not decode is replaced, and said so.
func TestStoreSeedAndUnreadable(t *testing.T) {
	ctx := context.Background()
	ep := testEndpoint()
	seed := &watch.Memory{}
	seeded := watch.Store{State: seed}
	if _, err := seeded.Record(ctx, ep, down(t0), rules); err != nil {
		t.Fatal(err)
	}
	before, _, _ := seed.Get(ctx, watch.DocumentName(ep.Key))
	state := &watch.Memory{}
	s := watch.Store{State: state, Seed: seed}
	h, etag, err := s.Load(ctx, ep.Key)
	if err != nil || h == nil || etag != "" || len(h.Results) != 1 {
		t.Fatalf("seeded load %+v %q %v", h, etag, err)
	}
	h, err = s.Record(ctx, ep, down(t0.Add(10*time.Minute)), rules)
	if err != nil || len(h.Results) != 2 || h.Outage == nil || h.Outage.Failures != 2 {
		t.Fatalf("%+v %v", h, err)
	}
	after, _, _ := seed.Get(ctx, watch.DocumentName(ep.Key))
	if string(before) != string(after) {
		t.Error("the seed was written")
	}

	if _, err := state.Put(ctx, watch.DocumentName(ep.Key), []byte("{not json"), statestore.Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(ctx, ep.Key); !errors.Is(err, watch.ErrUnreadable) || strings.Contains(err.Error(), "not json") {
		t.Fatalf("unreadable: %v", err)
	}
	h, err = s.Record(ctx, ep, up(t0.Add(20*time.Minute)), rules)
	if !errors.Is(err, watch.ErrUnreadable) || h == nil || len(h.Results) != 1 {
		t.Fatalf("replace unreadable: %+v %v", h, err)
	}
	data, _, _ := state.Get(ctx, watch.DocumentName(ep.Key))
	var back watch.History
	if json.Unmarshal(data, &back) != nil || len(back.Results) != 1 {
		t.Error("the replacement was not written")
	}
	if _, _, err := s.Load(ctx, "../../etc/passwd"); err == nil {
		t.Error("a key that is not an endpoint key was read")
	}
}

// fixed is a Checker answering every endpoint with one result.
type fixed struct{ r watch.Result }

func (f fixed) CheckAll(_ context.Context, eps []watch.Endpoint, _ int) []watch.Result {
	out := make([]watch.Result, len(eps))
	for i := range out {
		out[i] = f.r
	}
	return out
}

func TestRoundRecordsAndReadsBack(t *testing.T) {
	ctx := context.Background()
	ep := testEndpoint()
	state := &watch.Memory{}
	clock := t0
	for i, st := range []watch.State{watch.Up, watch.Down, watch.Down, watch.Down} {
		clock = t0.Add(time.Duration(i) * 10 * time.Minute)
		r := watch.Round{Store: watch.Store{State: state}, Checker: fixed{watch.Result{At: clock, State: st, Class: watch.ClassTimeout}}, Rules: rules, Now: func() time.Time { return clock }}
		out, err := r.Run(ctx, []watch.Endpoint{ep})
		if err != nil || out.Unchecked != 0 {
			t.Fatal(err, out.Unchecked)
		}
		if s := out.Statuses[ep.Key]; s.Down != (i == 3) {
			t.Errorf("round %d: down=%v", i, s.Down)
		}
	}
	statuses, problems, err := watch.LoadStatuses(ctx, watch.Store{State: state}, []watch.Endpoint{ep, func() watch.Endpoint { e := ep; e.Key = "E-000000000000"; return e }()}, clock, rules, 4)
	if err != nil || len(problems) != 0 || len(statuses) != 1 || !statuses[ep.Key].Down {
		t.Fatalf("%v %v %v", statuses, problems, err)
	}
	// A round whose checker checked nothing records nothing and says so.
	r := watch.Round{Store: watch.Store{State: state}, Checker: fixed{}, Rules: rules, Now: func() time.Time { return clock }}
	out, err := r.Run(ctx, []watch.Endpoint{ep})
	if err != nil || out.Unchecked != 1 || !out.Statuses[ep.Key].Down {
		t.Errorf("%+v %v", out, err)
	}
	// The snapshot checker replays the result recorded at its clock.
	rec := watch.Recorded{Seed: watch.Store{State: state}, Now: func() time.Time { return t0.Add(15 * time.Minute) }}
	got := rec.CheckAll(ctx, []watch.Endpoint{ep}, 1)
	if got[0].State != watch.Down || !got[0].At.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("recorded %+v", got[0])
	}
}
