package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// Retention prunes parked jobs, stored notices and dated reports by age,
// each with its own retention, at most SweepMax per folder and sweep (the
// oldest first); the ledger, the latest report and anything younger stay.
func TestPruneByAgeBoundedPerSweep(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	state := statestore.Dir{Root: root}
	now := time.Now()
	put := func(name string, age time.Duration) {
		t.Helper()
		if _, err := state.Put(ctx, name, []byte(`{}`), statestore.Condition{}); err != nil {
			t.Fatal(err)
		}
		at := now.Add(-age)
		if err := os.Chtimes(filepath.Join(root, filepath.FromSlash(name)), at, at); err != nil {
			t.Fatal(err)
		}
	}
	const day = 24 * time.Hour
	for i := range 5 {
		put(fmt.Sprintf("parked/event-%d.json", i), time.Duration(20+i)*day) // older than 10 days
		put(fmt.Sprintf("outbox/2026-01-0%d/F-%d.json", i+1, i), time.Duration(40+i)*day)
	}
	put("parked/batches/0123.json", 11*day)
	put("parked/event-fresh.json", day)
	put("outbox/2026-11-20/F-fresh.json", 29*day)
	put("reports/2026/01/01/060000.json", 40*day)
	put("reports/2026/11/20/060000.json", day)
	put(pipeline.LatestReport, 400*day)
	put("ledger/F-000000000001.json", 400*day)
	put("journal/J-1.json", 400*day)
	put(watch.DocumentName("E-gone"), 100*day)  // an endpoint no longer watched
	put(watch.DocumentName("E-watched"), 0*day) // written every round

	p := &pipeline.Pipeline{State: state, Retention: pipeline.Retention{Parked: 10 * day, Notices: 30 * day, WatchHistory: 90 * day, SweepMax: 4}}
	n, err := p.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Parked != 4 || n.Notices != 4 || n.Reports != 1 || n.WatchHistories != 1 || !n.More {
		t.Fatalf("first sweep: %+v; want 4 parked, 4 notices, 1 report, 1 watch history, more left", n)
	}
	// The oldest went first: the youngest expired ones are still there.
	for _, name := range []string{"parked/batches/0123.json", "parked/event-0.json", "outbox/2026-01-01/F-0.json"} {
		if _, _, err := state.Get(ctx, name); err != nil {
			t.Errorf("%s: %v (pruned before older documents)", name, err)
		}
	}
	n, err = p.Prune(ctx)
	if err != nil || n.Parked != 2 || n.Notices != 1 || n.Reports != 0 || n.WatchHistories != 0 || n.More {
		t.Fatalf("second sweep: %+v, %v; want the 2 parked and 1 notice left", n, err)
	}
	infos, _ := state.List(ctx, "")
	var left []string
	for _, in := range infos {
		left = append(left, in.Name)
	}
	want := []string{"journal/J-1.json", "ledger/F-000000000001.json", "outbox/2026-11-20/F-fresh.json", "parked/event-fresh.json",
		"reports/2026/11/20/060000.json", pipeline.LatestReport, watch.DocumentName("E-watched")}
	if fmt.Sprint(left) != fmt.Sprint(want) {
		t.Errorf("left %v\nwant %v", left, want)
	}
}
