package statestore

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// On a file system without hard links, create-if-absent falls back to the
// locked check-and-rename and keeps its guarantee: one of many concurrent
// creators wins, the others get ErrConflict.
func TestDirCreateWithoutHardLinks(t *testing.T) {
	hardLink = func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EPERM} }
	t.Cleanup(func() { hardLink = os.Link })
	d := Dir{Root: t.TempDir()}
	ctx := context.Background()
	var won, lost atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.Put(ctx, "ledger/F-1.json", []byte(`{}`), Condition{IfNoneMatch: true})
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, ErrConflict):
				lost.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 || lost.Load() != 19 {
		t.Fatalf("%d created, %d conflicts; want 1 and 19", won.Load(), lost.Load())
	}
	if data, _, err := d.Get(ctx, "ledger/F-1.json"); err != nil || string(data) != `{}` {
		t.Fatalf("read back %q, %v", data, err)
	}
}
