package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// A claim is a lease: while it holds nobody else sends; once it lapses the
// next claimer takes it over (counted, with the previous claim returned), a
// late failure report from the dead claimer changes nothing, and the
// takeover stays on record after the notice is sent.
func TestClaimIsALease(t *testing.T) {
	ctx := context.Background()
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			wall := t0
			l := &ledger.Ledger{Store: store, Now: func() time.Time { return t0 }, Wall: func() time.Time { return wall }, Lease: time.Minute}
			if _, err := l.Observe(ctx, finding("F-lease")); err != nil {
				t.Fatal(err)
			}
			c, err := l.Claim(ctx, "F-lease", "d30", "webhook", "webhook", "first")
			if err != nil || !c.Won || c.Takeover {
				t.Fatalf("first claim: %+v %v", c, err)
			}
			e, _ := l.Get(ctx, "F-lease")
			if n, _ := e.Notice("d30", "webhook"); n.LeaseUntil == nil || !n.LeaseUntil.Equal(t0.Add(time.Minute)) {
				t.Fatalf("lease until %v, want %v", n.LeaseUntil, t0.Add(time.Minute))
			}
			wall = t0.Add(30 * time.Second)
			if c, _ := l.Claim(ctx, "F-lease", "d30", "webhook", "webhook", "second"); c.Won || c.Holder.ClaimedBy != "first" {
				t.Fatalf("claim inside the lease: %+v", c)
			}
			if st := e.StaleClaims(wall); len(st) != 0 {
				t.Fatalf("stale inside the lease: %+v", st)
			}
			wall = t0.Add(2 * time.Minute)
			if st := e.StaleClaims(wall); len(st) != 1 || st[0].ClaimedBy != "first" {
				t.Fatalf("stale after the lease: %+v", st)
			}
			rev, err := l.Review(ctx)
			if err != nil || len(rev.Stale) != 1 || rev.Stale[0].FindingID != "F-lease" || len(rev.TakenOver) != 0 {
				t.Fatalf("review before the takeover: %+v %v", rev, err)
			}
			c, err = l.Claim(ctx, "F-lease", "d30", "webhook", "webhook", "second")
			if err != nil || !c.Won || !c.Takeover || c.Previous.ClaimedBy != "first" {
				t.Fatalf("claim after the lease: %+v %v", c, err)
			}
			// The dead claimer wakes up and reports a failure: ignored.
			if _, err := l.MarkNoticeFailed(ctx, "F-lease", "d30", "webhook", "first", errors.New("late")); err != nil {
				t.Fatal(err)
			}
			if c, _ := l.Claim(ctx, "F-lease", "d30", "webhook", "webhook", "third"); c.Won {
				t.Fatal("a late failure report from a taken-over claim freed the stage")
			}
			e, err = l.MarkNoticeSent(ctx, "F-lease", "d30", "webhook", "webhook:F-lease/d30")
			if err != nil {
				t.Fatal(err)
			}
			n, _ := e.Notice("d30", "webhook")
			if n.Status != ledger.StatusSent || n.Takeovers != 1 || n.TakenOverAt == nil || n.Attempts != 2 || n.LeaseUntil != nil || n.ClaimedBy != "second" {
				t.Fatalf("after the takeover and send: %+v", n)
			}
			wall = t0.Add(time.Hour)
			if c, _ := l.Claim(ctx, "F-lease", "d30", "webhook", "webhook", "fourth"); c.Won {
				t.Fatal("a sent notice was claimed again after its lease")
			}
			rev, err = l.Review(ctx)
			if err != nil || len(rev.Stale) != 0 || len(rev.TakenOver) != 1 || rev.TakenOver[0].Takeovers != 1 {
				t.Fatalf("review after: %+v %v", rev, err)
			}
		})
	}
}

// A claim written before leases existed (no leaseUntil) lapses the default
// lease after it was made.
func TestLegacyClaimLapses(t *testing.T) {
	ctx := context.Background()
	store := statestore.Dir{Root: t.TempDir()}
	doc := `{"findingId":"F-old","severity":"warning","firstSeen":"2026-11-01T00:00:00Z","lastChecked":"2026-11-01T00:00:00Z",
		"notices":[{"stage":"d30","channel":"mail","status":"claimed","claimedBy":"x","at":"2026-11-01T00:00:00Z","attempts":1}],"version":3}`
	if _, err := store.Put(ctx, ledger.DocumentName("F-old"), []byte(doc), statestore.Condition{}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 0, 10, 0, 0, time.UTC)
	l := &ledger.Ledger{Store: store, Wall: func() time.Time { return at }}
	if c, _ := l.Claim(ctx, "F-old", "d30", "mail", "", "new"); c.Won {
		t.Fatal("taken over 10 minutes after the claim")
	}
	at = at.Add(ledger.DefaultNoticeLease)
	if c, _ := l.Claim(ctx, "F-old", "d30", "mail", "", "new"); !c.Won || !c.Takeover {
		t.Fatalf("not taken over after the default lease: %+v", c)
	}
}

// A ledger document that is not an entry fails every update with a
// permanent error naming it, is left as it is, and is listed by Review.
func TestCorruptEntryIsNamedNotDropped(t *testing.T) {
	ctx := context.Background()
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for id, body := range map[string]string{"F-garbage": `{"findingId": "F-garbage", "notices": [`, "F-other": `{"findingId":"F-somebody-else","version":1}`, "F-array": `[1,2]`} {
				if _, err := store.Put(ctx, ledger.DocumentName(id), []byte(body), statestore.Condition{}); err != nil {
					t.Fatal(err)
				}
				l := &ledger.Ledger{Store: store}
				_, err := l.Claim(ctx, id, "d30", "mail", "", "job-1")
				var ce *ledger.CorruptError
				if !errors.As(err, &ce) || !ce.Permanent() || ce.Document != "ledger/"+id+".json" || !strings.Contains(err.Error(), "ledger/"+id+".json") {
					t.Fatalf("%s: claim error %v", id, err)
				}
				data, _, _ := store.Get(ctx, ledger.DocumentName(id))
				if string(data) != body {
					t.Fatalf("%s: the corrupt document was rewritten: %s", id, data)
				}
			}
			rev, err := (&ledger.Ledger{Store: store}).Review(ctx)
			if err != nil || len(rev.Corrupt) != 3 {
				t.Fatalf("review: %+v %v", rev, err)
			}
		})
	}
}

// No entry carries the zero time, whichever change created it.
func TestNewEntriesHaveTimestamps(t *testing.T) {
	ctx := context.Background()
	store := statestore.Dir{Root: t.TempDir()}
	l := &ledger.Ledger{Store: store, Now: func() time.Time { return t0 }}
	if _, err := l.RecordJob(ctx, "F-job", ledger.JobOutcome{MessageID: "m1", Kind: "refresh-metadata", Outcome: "nothing-to-do"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetLastGoodMetadata(ctx, "F-meta", "metadata/x@1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Claim(ctx, "F-claimed", "open", "store", "", "m2"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"F-job", "F-meta", "F-claimed"} {
		data, _, err := store.Get(ctx, ledger.DocumentName(id))
		if err != nil {
			t.Fatal(err)
		}
		var e ledger.Entry
		json.Unmarshal(data, &e)
		if strings.Contains(string(data), "0001-01-01") || !e.FirstSeen.Equal(t0) || !e.LastChecked.Equal(t0) {
			t.Errorf("%s: %s", id, data)
		}
	}
}
