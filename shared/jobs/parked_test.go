package jobs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

func parkStores(t *testing.T) map[string]statestore.Store {
	t.Helper()
	blob, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{
		ConnectionString: azuritetest.Start(t),
		Container:        "idpkeeper-jobs-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]statestore.Store{"dir": statestore.Dir{Root: t.TempDir()}, "blob": blob}
}

func TestPark(t *testing.T) {
	ctx := context.Background()
	for name, store := range parkStores(t) {
		t.Run(name, func(t *testing.T) {
			p := Parked{MessageID: "rotate-credential_social-x_20261124_abc", Queue: DefaultQueueRotation,
				Reason: "jobs: unsupported job version: version 2", Body: `{"version":2}`, At: day}
			if err := Park(ctx, store, p); err != nil {
				t.Fatal(err)
			}
			// A redelivery parks it again: still one entry, the first record.
			again := p
			again.At, again.Reason = day.Add(time.Minute), "second"
			if err := Park(ctx, store, again); err != nil {
				t.Fatal(err)
			}
			list, err := ListParked(ctx, store, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0] != p {
				t.Fatalf("parked = %+v, want just %+v", list, p)
			}
			if _, _, err := store.Get(ctx, "parked/"+p.MessageID+".json"); err != nil {
				t.Errorf("document parked/<messageID>.json: %v", err)
			}

			// Concurrent parkers: each distinct ID once, repeats merged.
			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for i := range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("msg-%d", i%20)
					errs <- Park(ctx, store, Parked{MessageID: id, Queue: DefaultQueueNotices, Reason: "bad", At: day.Add(time.Duration(i%20+1) * time.Second)})
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			list, err = ListParked(ctx, store, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 21 {
				t.Fatalf("%d parked, want 21", len(list))
			}
			seen := map[string]bool{}
			for i, e := range list {
				if seen[e.MessageID] {
					t.Errorf("%s listed twice", e.MessageID)
				}
				seen[e.MessageID] = true
				if i > 0 && e.At.Before(list[i-1].At) {
					t.Errorf("not oldest first at %d", i)
				}
			}
		})
	}
}

func TestParkedDocument(t *testing.T) {
	if got := ParkedDocument("rotate-credential_social-x_20261124_abc"); got != "parked/rotate-credential_social-x_20261124_abc.json" {
		t.Errorf("ParkedDocument = %s", got)
	}
	// Foreign IDs cannot leave the folder, nor collide after sanitising.
	a, b := ParkedDocument("../../etc/passwd"), ParkedDocument("..-..-etc-passwd")
	if strings.Count(a, "/") != 1 || !strings.Contains(a, "etc-passwd") || strings.HasPrefix(a, "parked/.") || a == b {
		t.Errorf("ParkedDocument: %s and %s", a, b)
	}
	if err := Park(context.Background(), statestore.Dir{Root: t.TempDir()}, Parked{MessageID: "../x"}); err != nil {
		t.Errorf("parking a foreign ID: %v", err)
	}
}

// Parking is a few writes whatever is parked already: one document per
// parked job (Park), or per batch (ParkAll), and no index. A listing finds
// them, the newest first when bounded, names a document that is not a
// parked job instead of hiding it, and retention prunes by age.
func TestParkedListingAndRetention(t *testing.T) {
	ctx := context.Background()
	for name, store := range parkStores(t) {
		t.Run(name, func(t *testing.T) {
			var ps []Parked
			for i := range 30 {
				ps = append(ps, Parked{MessageID: fmt.Sprintf("event-%02d", i), Queue: "KeyVaultEvents", Reason: "malformed", At: day.Add(time.Duration(i) * time.Minute)})
			}
			// A repeated message ID is parked once, the first.
			if err := ParkAll(ctx, store, append(ps, Parked{MessageID: "event-03", Reason: "again", At: day})); err != nil {
				t.Fatal(err)
			}
			// A redelivery of the same batch keeps the first record.
			again := append([]Parked(nil), ps...)
			again[0].Reason = "redelivered"
			if err := ParkAll(ctx, store, again); err != nil {
				t.Fatal(err)
			}
			// The same job parked on its own too is listed once.
			if err := Park(ctx, store, ps[7]); err != nil {
				t.Fatal(err)
			}
			// A legacy index and damaged documents.
			store.Put(ctx, "parked/index.json", []byte(`{"version":1,"entries":[]}`), statestore.Condition{})
			store.Put(ctx, "parked/garbage.json", []byte(`{"messageId":`), statestore.Condition{})
			store.Put(ctx, BatchPrefix+"broken.json", []byte(`{"parked": [{"messageId": ""}]}`), statestore.Condition{})
			lister, _ := statestore.AsLister(store)
			infos, _ := lister.List(ctx, ParkedPrefix)
			if len(infos) != 5 {
				t.Fatalf("%d documents under parked/, want a batch, a single job, the index and two damaged: %+v", len(infos), infos)
			}
			all, err := ListParked(ctx, store, 0)
			if err != nil || len(all) != 32 {
				t.Fatalf("ListParked = %d, %v; want 30 jobs and 2 damaged documents", len(all), err)
			}
			damaged := 0
			for i, p := range all {
				if (p.MessageID == "garbage" && strings.Contains(p.Reason, "parked/garbage.json does not read as a parked job")) ||
					(p.MessageID == "batches/broken" && strings.Contains(p.Reason, "a job without message ID")) {
					damaged++
				}
				if p.MessageID == "event-03" && p.Reason != "malformed" || p.MessageID == "event-00" && p.Reason != "malformed" {
					t.Errorf("%s: reason %q, want the first record", p.MessageID, p.Reason)
				}
				if i > 0 && p.MessageID != "garbage" && !strings.HasPrefix(p.MessageID, "batches/") && p.At.Before(all[i-1].At) {
					t.Errorf("not oldest first at %d", i)
				}
			}
			if damaged != 2 {
				t.Errorf("%d damaged documents listed with their names, want 2: %+v", damaged, all)
			}
			if few, err := ListParked(ctx, store, 5); err != nil || len(few) != 5 {
				t.Fatalf("ListParked max 5 = %d, %v", len(few), err)
			}
			if n, err := PruneParked(ctx, store, time.Now().Add(-time.Hour)); n != 0 || err != nil {
				t.Fatalf("pruned %d fresh documents (%v)", n, err)
			}
			if n, err := PruneParked(ctx, store, time.Now().Add(time.Hour)); n != 5 || err != nil {
				t.Fatalf("pruned %d, %v; want all 5", n, err)
			}
			if all, _ := ListParked(ctx, store, 0); len(all) != 0 {
				t.Fatalf("after pruning: %d", len(all))
			}
		})
	}
}

// A big delivery is cut into documents of bounded size; every job is kept.
func TestParkAllBoundsItsDocuments(t *testing.T) {
	ctx := context.Background()
	store := statestore.Dir{Root: t.TempDir()}
	body := strings.Repeat("x", 16<<10)
	var ps []Parked
	for i := range 300 { // about 5 MB
		ps = append(ps, Parked{MessageID: fmt.Sprintf("event-%03d", i), Queue: "KeyVaultEvents", Reason: "malformed", Body: body, At: day})
	}
	if err := ParkAll(ctx, store, ps); err != nil {
		t.Fatal(err)
	}
	infos, _ := store.List(ctx, BatchPrefix)
	if len(infos) < 5 {
		t.Errorf("%d batch documents for 5 MB", len(infos))
	}
	for _, in := range infos {
		if in.Size > batchMaxBytes {
			t.Errorf("%s: %d bytes", in.Name, in.Size)
		}
	}
	all, err := ListParked(ctx, store, 0)
	if err != nil || len(all) != 300 {
		t.Fatalf("ListParked = %d, %v", len(all), err)
	}
	if err := ParkAll(ctx, store, []Parked{{MessageID: "ok"}, {MessageID: ""}}); err == nil {
		t.Error("a job without message ID was parked")
	}
}
