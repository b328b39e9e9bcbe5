package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// stores returns the two Store implementations the ledger runs on: a real
// Azurite blob container and a folder.
func stores(t *testing.T) map[string]statestore.Store {
	t.Helper()
	blob, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{
		ConnectionString: azuritetest.Start(t),
		Container:        "ledger-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]statestore.Store{"blob": blob, "dir": statestore.Dir{Root: t.TempDir()}}
}

func finding(id string) assess.Finding {
	due := t0.Add(20 * 24 * time.Hour)
	return assess.Finding{
		ID: id, Kind: assess.KindSocialSecretExpiring, Severity: assess.Warning,
		Dependency: assess.Dependency{Ref: "social/Google-OAUTH", Kind: "social", ID: "Google-OAUTH"},
		Due:        &due,
	}
}

func TestLedger(t *testing.T) {
	ctx := context.Background()
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("ConcurrentUpdatesLoseNothing", func(t *testing.T) {
				l := &ledger.Ledger{Store: store, Now: func() time.Time { return t0 }}
				const writers, each = 8, 3
				var wg sync.WaitGroup
				for w := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range each {
							// Each job is an increment only this goroutine makes.
							_, err := l.RecordJob(ctx, "F-concurrent", ledger.JobOutcome{
								MessageID: fmt.Sprintf("m-%d-%d", w, i), Kind: "notify", Outcome: "done",
							})
							if err != nil {
								t.Error(err)
							}
						}
					}()
				}
				wg.Wait()
				e, err := l.Get(ctx, "F-concurrent")
				if err != nil {
					t.Fatal(err)
				}
				if len(e.Jobs) != writers*each || e.Version != writers*each {
					t.Fatalf("after %d concurrent updates: %d jobs, version %d", writers*each, len(e.Jobs), e.Version)
				}
			})

			t.Run("ClaimOneWinner", func(t *testing.T) {
				l := &ledger.Ledger{Store: store, Now: func() time.Time { return t0 }, Wall: func() time.Time { return t0 }}
				if _, err := l.Observe(ctx, finding("F-claim")); err != nil {
					t.Fatal(err)
				}
				var wins atomic.Int32
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ok, err := l.ClaimNotice(ctx, "F-claim", "d30", "mail", fmt.Sprintf("worker-%d", i))
						if err != nil {
							t.Error(err)
						}
						if ok {
							wins.Add(1)
						}
					}()
				}
				wg.Wait()
				if wins.Load() != 1 {
					t.Fatalf("%d of 8 concurrent claimers won, want exactly 1", wins.Load())
				}
				// Claimed and not yet sent: nobody else gets it.
				if ok, _ := l.ClaimNotice(ctx, "F-claim", "d30", "mail", "late"); ok {
					t.Fatal("a claimed stage was claimed again")
				}
				// Another channel is its own notice.
				if ok, _ := l.ClaimNotice(ctx, "F-claim", "d30", "webhook", "w"); !ok {
					t.Fatal("webhook claim for d30 refused")
				}
				// A failure re-arms the stage; a success closes it for ever.
				if _, err := l.MarkNoticeFailed(ctx, "F-claim", "d30", "mail", "", errors.New("HTTP 503")); err != nil {
					t.Fatal(err)
				}
				if ok, _ := l.ClaimNotice(ctx, "F-claim", "d30", "mail", "retry"); !ok {
					t.Fatal("a failed notice could not be claimed again")
				}
				e, err := l.MarkNoticeSent(ctx, "F-claim", "d30", "mail", "msg-1")
				if err != nil {
					t.Fatal(err)
				}
				if e.StageReached != "d30" {
					t.Fatalf("stage reached %q", e.StageReached)
				}
				n, _ := e.Notice("d30", "mail")
				if n.Status != ledger.StatusSent || n.Attempts != 2 || n.ClaimedBy != "retry" || n.Error != "" {
					t.Fatalf("notice after retry: %+v", n)
				}
				// A late failure report does not un-send it.
				if _, err := l.MarkNoticeFailed(ctx, "F-claim", "d30", "mail", "retry", errors.New("late")); err != nil {
					t.Fatal(err)
				}
				if ok, _ := l.ClaimNotice(ctx, "F-claim", "d30", "mail", "again"); ok {
					t.Fatal("a sent stage was claimed again")
				}
				// The webhook claim was never reported: it is stale later on.
				e, _ = l.Get(ctx, "F-claim")
				if st := e.StaleClaims(t0.Add(time.Hour)); len(st) != 1 || st[0].Channel != "webhook" {
					t.Fatalf("stale claims = %+v", st)
				}
			})

			t.Run("RecordJobIdempotentAndBounded", func(t *testing.T) {
				l := &ledger.Ledger{Store: store, Now: func() time.Time { return t0 }}
				j := ledger.JobOutcome{MessageID: "m-1", Kind: "refresh-metadata", Outcome: "unchanged"}
				var first ledger.Entry
				for i := range 3 {
					e, err := l.RecordJob(ctx, "F-jobs", j)
					if err != nil {
						t.Fatal(err)
					}
					if i == 0 {
						first = e
					}
				}
				e, _ := l.Get(ctx, "F-jobs")
				if len(e.Jobs) != 1 || e.Version != first.Version {
					t.Fatalf("3 deliveries of one message: %d outcomes, version %d→%d", len(e.Jobs), first.Version, e.Version)
				}
				// The redelivery with a new outcome replaces it in place.
				j.Outcome = "applied"
				e, _ = l.RecordJob(ctx, "F-jobs", j)
				if len(e.Jobs) != 1 || e.Jobs[0].Outcome != "applied" {
					t.Fatalf("redelivery with a new outcome: %+v", e.Jobs)
				}
				for i := range 60 {
					if _, err := l.RecordJob(ctx, "F-jobs", ledger.JobOutcome{MessageID: fmt.Sprintf("n-%02d", i), Kind: "k", Outcome: "o"}); err != nil {
						t.Fatal(err)
					}
				}
				e, _ = l.Get(ctx, "F-jobs")
				if len(e.Jobs) != ledger.MaxJobs || e.Jobs[0].MessageID != "n-10" || e.Jobs[ledger.MaxJobs-1].MessageID != "n-59" {
					t.Fatalf("bounded jobs: %d, first %s", len(e.Jobs), e.Jobs[0].MessageID)
				}
			})

			t.Run("ObserveAndAck", func(t *testing.T) {
				now := t0
				l := &ledger.Ledger{Store: store, Now: func() time.Time { return now }}
				if _, err := l.Acknowledge(ctx, "F-ack", now.Add(time.Hour), "a@contoso.com", ""); !errors.Is(err, ledger.ErrUnknownFinding) {
					t.Fatalf("ack of an unknown finding: %v", err)
				}
				if _, err := l.Get(ctx, "F-ack"); !errors.Is(err, statestore.ErrNotFound) {
					t.Fatalf("the refused ack left a document: %v", err)
				}
				e1, err := l.Observe(ctx, finding("F-ack"))
				if err != nil {
					t.Fatal(err)
				}
				e2, _ := l.Observe(ctx, finding("F-ack"))
				if e2.Version != e1.Version {
					t.Fatal("observing the same finding at the same time wrote the document again")
				}
				now = now.Add(time.Hour)
				e3, _ := l.Observe(ctx, finding("F-ack"))
				if !e3.FirstSeen.Equal(t0) || !e3.LastChecked.Equal(now) || e3.Version != e1.Version+1 {
					t.Fatalf("observe later: first %v last %v version %d", e3.FirstSeen, e3.LastChecked, e3.Version)
				}
				if _, err := l.Acknowledge(ctx, "F-ack", now.Add(-time.Minute), "a@contoso.com", ""); err == nil {
					t.Fatal("ack in the past accepted")
				}
				e, err := l.Acknowledge(ctx, "F-ack", now.Add(72*time.Hour), "a@contoso.com", "rotating on Friday")
				if err != nil || e.Ack == nil || !e.Ack.Until.Equal(now.Add(72*time.Hour)) {
					t.Fatalf("ack: %+v %v", e.Ack, err)
				}
			})

			t.Run("RejectsPathIDs", func(t *testing.T) {
				l := &ledger.Ledger{Store: store}
				for _, id := range []string{"", "../x", "a/b", strings.Repeat("x", 200)} {
					if _, err := l.Observe(ctx, finding(id)); err == nil {
						t.Errorf("finding ID %q accepted", id)
					}
				}
			})
		})
	}
}

// A store that always conflicts makes Update give up after MaxAttempts
// rather than spin for ever.
func TestUpdateGivesUp(t *testing.T) {
	s := &conflictStore{Store: statestore.Dir{Root: t.TempDir()}}
	l := &ledger.Ledger{Store: s, MaxAttempts: 3}
	_, err := l.Update(context.Background(), "F-x", func(e *ledger.Entry) error { e.Kind = "k"; return nil })
	if !errors.Is(err, ledger.ErrTooManyConflicts) || s.puts != 3 {
		t.Fatalf("err %v after %d writes", err, s.puts)
	}
}

type conflictStore struct {
	statestore.Store
	puts int
}

func (c *conflictStore) Put(context.Context, string, []byte, statestore.Condition) (string, error) {
	c.puts++
	return "", statestore.ErrConflict
}
