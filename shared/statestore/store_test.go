package statestore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

func stores(t *testing.T) map[string]statestore.Store {
	t.Helper()
	blob, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{
		ConnectionString: azuritetest.Start(t),
		Container:        "idpkeeper-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]statestore.Store{"blob": blob, "dir": statestore.Dir{Root: t.TempDir()}}
}

func TestOptimisticConcurrency(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if _, _, err := s.Get(ctx, "reports/latest.json"); !errors.Is(err, statestore.ErrNotFound) {
				t.Fatalf("get missing: %v", err)
			}
			etag1, err := s.Put(ctx, "reports/latest.json", []byte(`{"n":1}`), statestore.Condition{IfNoneMatch: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put(ctx, "reports/latest.json", []byte(`{"n":9}`), statestore.Condition{IfNoneMatch: true}); !errors.Is(err, statestore.ErrConflict) {
				t.Fatalf("create over existing: %v", err)
			}
			data, etag, err := s.Get(ctx, "reports/latest.json")
			if err != nil || string(data) != `{"n":1}` || etag != etag1 {
				t.Fatalf("get = %s %s %v, want n=1 with etag %s", data, etag, err, etag1)
			}
			etag2, err := s.Put(ctx, "reports/latest.json", []byte(`{"n":2}`), statestore.Condition{IfMatch: etag1})
			if err != nil || etag2 == etag1 {
				t.Fatalf("conditional update: %v (etag %s→%s)", err, etag1, etag2)
			}
			if _, err := s.Put(ctx, "reports/latest.json", []byte(`{"n":3}`), statestore.Condition{IfMatch: etag1}); !errors.Is(err, statestore.ErrConflict) {
				t.Fatalf("stale update: %v", err)
			}
			data, _, _ = s.Get(ctx, "reports/latest.json")
			if string(data) != `{"n":2}` {
				t.Fatalf("after stale update the document is %s", data)
			}
		})
	}
}

// Many writers racing from the same ETag: exactly one wins.
func TestConcurrentWritersOneWins(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			etag, err := s.Put(ctx, "race.json", []byte(`0`), statestore.Condition{})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					_, err := s.Put(ctx, "race.json", []byte{'1' + byte(i)}, statestore.Condition{IfMatch: etag})
					if err == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					} else if !errors.Is(err, statestore.ErrConflict) {
						t.Error(err)
					}
				}(i)
			}
			wg.Wait()
			if wins != 1 {
				t.Fatalf("%d writers won, want exactly 1", wins)
			}
		})
	}
}

func TestDirRefusesEscapingNames(t *testing.T) {
	d := statestore.Dir{Root: t.TempDir()}
	if _, err := d.Put(context.Background(), "../outside.json", []byte("x"), statestore.Condition{}); err == nil {
		t.Fatal("wrote outside the state folder")
	}
}

func TestOpenBlobRefusesBadContainerNames(t *testing.T) {
	for _, name := range []string{"", "md", "Reports", "a--b", "-abc", strings.Repeat("a", 64)} {
		_, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{ConnectionString: "UseDevelopmentStorage=true", Container: name})
		if err == nil || !strings.Contains(err.Error(), "not a blob container name") {
			t.Errorf("%q: %v", name, err)
		}
	}
}
