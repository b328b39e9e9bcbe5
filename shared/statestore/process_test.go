package statestore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// Environment of the helper process TestHelperCounter.
const (
	envHelperRoot = "IDPKEEPER_TEST_COUNTER_ROOT"
	envHelperN    = "IDPKEEPER_TEST_COUNTER_N"
)

// TestHelperCounter is not a test: run by TestDirConditionalWritesAcrossProcesses
// as a separate process, it adds 1 to counter.json n times, each a read →
// conditional write retried on conflict, and then claims claim/<i>.json for
// i < n with a create-if-absent write, printing each one it won.
func TestHelperCounter(t *testing.T) {
	root := os.Getenv(envHelperRoot)
	if root == "" {
		t.Skip("helper process for TestDirConditionalWritesAcrossProcesses")
	}
	n, _ := strconv.Atoi(os.Getenv(envHelperN))
	ctx := context.Background()
	d := statestore.Dir{Root: root}
	for i := 0; i < n; i++ {
		for {
			data, etag, err := d.Get(ctx, "counter.json")
			cond := statestore.Condition{IfMatch: etag}
			v := 0
			switch {
			case errors.Is(err, statestore.ErrNotFound):
				cond = statestore.Condition{IfNoneMatch: true}
			case err != nil:
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			default:
				v, _ = strconv.Atoi(string(data))
			}
			_, err = d.Put(ctx, "counter.json", []byte(strconv.Itoa(v+1)), cond)
			if err == nil {
				break
			}
			if !errors.Is(err, statestore.ErrConflict) {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
		}
	}
	for i := 0; i < n; i++ {
		_, err := d.Put(ctx, fmt.Sprintf("claim/%d.json", i), []byte(strconv.Itoa(os.Getpid())), statestore.Condition{IfNoneMatch: true})
		switch {
		case err == nil:
			fmt.Printf("won %d\n", i)
		case !errors.Is(err, statestore.ErrConflict):
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
	os.Exit(0)
}

// Folder state keeps Blob's guarantee across processes: 8 processes doing
// read → conditional write on one document lose no increment, and of 8
// processes creating the same documents exactly one wins each.
func TestDirConditionalWritesAcrossProcesses(t *testing.T) {
	root := t.TempDir()
	const procs, n = 8, 40
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for p := 0; p < procs; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCounter$", "-test.count=1")
			cmd.Env = append(os.Environ(), envHelperRoot+"="+root, envHelperN+"="+strconv.Itoa(n))
			outs[p], errs[p] = cmd.Output()
		}(p)
	}
	wg.Wait()
	won := map[string]int{}
	for p := 0; p < procs; p++ {
		if errs[p] != nil {
			t.Fatalf("helper %d: %v", p, errs[p])
		}
		for _, line := range splitLines(string(outs[p])) {
			won[line]++
		}
	}
	data, _, err := statestore.Dir{Root: root}.Get(context.Background(), "counter.json")
	if err != nil || string(data) != strconv.Itoa(procs*n) {
		t.Fatalf("counter = %q (%v), want %d: an increment was lost", data, err, procs*n)
	}
	if len(won) != n {
		t.Fatalf("%d claims won, want %d", len(won), n)
	}
	for claim, k := range won {
		if k != 1 {
			t.Errorf("%s: won by %d processes", claim, k)
		}
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// List, Delete and Prune on both stores: one prefix at a time, the store's
// own files (locks, temporary files) never listed, deletes idempotent,
// pruning by age.
func TestListDeletePrune(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			l, err := statestore.AsLister(s)
			if err != nil {
				t.Fatal(err)
			}
			for _, doc := range []string{"parked/a.json", "parked/b.json", "parkedx/c.json", "outbox/2026-11-20/F-1-d30.json", "outbox/2026-11-21/F-2-d30.json"} {
				if _, err := s.Put(ctx, doc, []byte(doc), statestore.Condition{}); err != nil {
					t.Fatal(err)
				}
			}
			infos, err := l.List(ctx, "parked/")
			if err != nil || len(infos) != 2 || infos[0].Name != "parked/a.json" || infos[1].Name != "parked/b.json" || infos[0].Size != int64(len("parked/a.json")) {
				t.Fatalf("List(parked/) = %+v, %v", infos, err)
			}
			if infos[0].Modified.IsZero() || time.Since(infos[0].Modified) > time.Hour {
				t.Errorf("modified time %v", infos[0].Modified)
			}
			if infos, _ := l.List(ctx, "outbox/"); len(infos) != 2 {
				t.Errorf("List(outbox/) = %+v", infos)
			}
			if infos, _ := l.List(ctx, "nothing/"); len(infos) != 0 {
				t.Errorf("List(nothing/) = %+v", infos)
			}
			if err := l.Delete(ctx, "parked/a.json"); err != nil {
				t.Fatal(err)
			}
			if err := l.Delete(ctx, "parked/a.json"); err != nil {
				t.Errorf("deleting a missing document: %v", err)
			}
			if _, _, err := s.Get(ctx, "parked/a.json"); !errors.Is(err, statestore.ErrNotFound) {
				t.Errorf("deleted document still read: %v", err)
			}
			// Nothing is older than an hour ago; everything is older than
			// an hour from now, but keep spares one.
			if n, err := statestore.Prune(ctx, s, "outbox/", time.Now().Add(-time.Hour), nil); n != 0 || err != nil {
				t.Errorf("prune of fresh documents: %d, %v", n, err)
			}
			n, err := statestore.Prune(ctx, s, "outbox/", time.Now().Add(time.Hour), func(in statestore.Info) bool { return in.Name == "outbox/2026-11-21/F-2-d30.json" })
			if n != 1 || err != nil {
				t.Errorf("prune: %d, %v", n, err)
			}
			if infos, _ := l.List(ctx, "outbox/"); len(infos) != 1 || infos[0].Name != "outbox/2026-11-21/F-2-d30.json" {
				t.Errorf("after prune: %+v", infos)
			}
		})
	}
}

func TestDirHidesItsOwnFiles(t *testing.T) {
	ctx := context.Background()
	d := statestore.Dir{Root: t.TempDir()}
	if _, err := d.Put(ctx, "ledger/F-1.json", []byte("{}"), statestore.Condition{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	// A temporary file left by a killed writer, and the lock files.
	os.WriteFile(d.Root+"/ledger/.tmp-123", []byte("half"), 0o644)
	infos, err := d.List(ctx, "")
	if err != nil || len(infos) != 1 || infos[0].Name != "ledger/F-1.json" {
		t.Fatalf("List = %+v, %v", infos, err)
	}
	for _, name := range []string{".locks/00.lock", "ledger/.tmp-1", "a/.b/c.json"} {
		if _, err := d.Put(ctx, name, []byte("x"), statestore.Condition{}); err == nil {
			t.Errorf("wrote %s, a name of the store's own files", name)
		}
	}
}

// A bounded sweep deletes the oldest expired documents first and says when
// more are left for the next one.
func TestPruneAtMostOldestFirst(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d := statestore.Dir{Root: root}
	base := time.Now().Add(-48 * time.Hour)
	for i := range 5 {
		name := fmt.Sprintf("outbox/2026-11-2%d/F-%d.json", i, i)
		if _, err := d.Put(ctx, name, []byte("{}"), statestore.Condition{}); err != nil {
			t.Fatal(err)
		}
		// F-4 the oldest, F-0 the newest; F-0 is not expired.
		at := base.Add(-time.Duration(i) * time.Hour)
		if i == 0 {
			at = time.Now()
		}
		os.Chtimes(filepath.Join(root, filepath.FromSlash(name)), at, at)
	}
	cutoff := time.Now().Add(-24 * time.Hour)
	n, more, err := statestore.PruneAtMost(ctx, d, "outbox/", cutoff, nil, 2)
	if n != 2 || !more || err != nil {
		t.Fatalf("first sweep: %d, more %v, %v", n, more, err)
	}
	left, _ := d.List(ctx, "outbox/")
	if len(left) != 3 || left[0].Name != "outbox/2026-11-20/F-0.json" || left[2].Name != "outbox/2026-11-22/F-2.json" {
		t.Fatalf("not the oldest first: %+v", left)
	}
	n, more, err = statestore.PruneAtMost(ctx, d, "outbox/", cutoff, nil, 2)
	if n != 2 || more || err != nil {
		t.Fatalf("second sweep: %d, more %v, %v", n, more, err)
	}
	if left, _ := d.List(ctx, "outbox/"); len(left) != 1 {
		t.Fatalf("the fresh document was pruned: %+v", left)
	}
}
