package watch_test

import (
	"context"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// A history document comes from the state store or, for a snapshot, from
// elsewhere: whatever it holds, reading, judging and appending to it never
// panic, and an appended result is kept.
func FuzzHistoryDocument(f *testing.F) {
	h := &watch.History{}
	seq(h, t0, 10*time.Minute, "uudddduuddd")
	good, _ := h.MarshalReadable()
	f.Add(good)
	f.Add([]byte(`{"version":1,"results":[{"at":"2026-11-20T06:00:00Z","state":"down"},{"at":"2026-11-19T06:00:00Z","state":"up"}],"outages":[{"since":"2026-11-21T00:00:00Z"}],"outage":{"failures":-5}}`))
	f.Add([]byte(`{"days":[{"date":"zzz","up":-1,"down":999999999}],"tls":{"notAfter":"0001-01-01T00:00:00Z"}}`))
	ep := testEndpoint()
	inv, cfg := exampleInventory()
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		state := &watch.Memory{}
		state.Put(ctx, watch.DocumentName(ep.Key), data, statestore.Condition{})
		s := watch.Store{State: state}
		h, _, err := s.Load(ctx, ep.Key)
		if err != nil {
			return
		}
		st := watch.StatusOf(h, t0, rules)
		st.Degraded(rules)
		watch.Findings(inv, cfg, []watch.Endpoint{ep}, map[string]watch.Status{ep.Key: st}, t0, rules)
		after := t0.Add(100 * 365 * 24 * time.Hour)
		h2, err := s.Record(ctx, ep, down(after), rules)
		if err != nil || h2 == nil || h2.Last() == nil || !h2.Last().At.Equal(after) {
			t.Fatalf("append after a hostile document: %v %+v", err, h2)
		}
	})
}

func FuzzSchedule(f *testing.F) {
	for _, s := range []string{watch.DefaultSchedule, "0 0 6 * * 1-5", "*/15 1,2,3 0-23/2 1 1-12 *", "0 0 0 31 2 *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := watch.ParseSchedule(expr)
		if err != nil {
			return
		}
		from := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
		if next := s.Next(from); !next.IsZero() && !next.After(from) {
			t.Fatalf("%q: next %v is not after %v", expr, next, from)
		}
	})
}
