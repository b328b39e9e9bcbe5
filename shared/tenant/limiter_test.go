package tenant

import (
	"context"
	"testing"
	"time"
)

// The window bounds what is in flight; a request larger than the window
// still goes alone; acquireUpTo takes what is free.
func TestLimiterWindow(t *testing.T) {
	l := NewLimiter("t", 4)
	ctx := context.Background()
	if err := l.acquire(ctx, 3, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := l.acquireUpTo(ctx, 20, 0); err != nil || n != 1 {
		t.Fatalf("acquireUpTo = %d, %v; want the 1 free slot", n, err)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := l.acquire(short, 1, 0); err == nil {
		t.Fatal("a fifth request went out with a window of 4")
	}
	l.release(4)
	if err := l.acquire(ctx, 9, 0); err != nil {
		t.Fatalf("a request larger than the window, alone: %v", err)
	}
	l.release(9)
}

// A 429 holds every request for its Retry-After and restarts the window at
// one; answers that were not throttled open it again, one per window.
func TestLimiterHoldsForRetryAfter(t *testing.T) {
	l := NewLimiter("t", 8)
	ctx := context.Background()
	l.observe(0, 1, 150*time.Millisecond)
	if w := l.Window(); w != 1 {
		t.Errorf("window after a 429 = %d, want 1", w)
	}
	start := time.Now()
	if err := l.acquire(ctx, 1, 0); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 140*time.Millisecond {
		t.Errorf("a request went out %v after a 429 with Retry-After 150 ms", waited)
	}
	l.release(1)
	for i := 0; i < 3; i++ {
		l.observe(1, 0, 0)
	}
	if w := l.Window(); w < 2 || w > 3 {
		t.Errorf("window after 3 answers = %d, want it growing by about one per window", w)
	}
	st := l.Stats()
	if st.Throttled != 1 || st.Held < 140*time.Millisecond {
		t.Errorf("stats %+v", st)
	}
	// A second 429 while held extends the hold, it does not stack it.
	l.observe(0, 1, 100*time.Millisecond)
	l.observe(0, 1, 100*time.Millisecond)
	if held := l.Stats().Held - st.Held; held > 120*time.Millisecond {
		t.Errorf("two 429s 100 ms apart held %v", held)
	}
}

// Requests sent before go first: a throttled request is not throttled again
// by newcomers.
func TestLimiterServesRetriesFirst(t *testing.T) {
	l := NewLimiter("t", 1)
	ctx := context.Background()
	if err := l.acquire(ctx, 1, 0); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 3)
	for _, w := range []struct {
		name     string
		priority int
	}{{"new-1", 0}, {"new-2", 0}, {"retry", 2}} {
		go func() {
			if err := l.acquire(ctx, 1, w.priority); err == nil {
				order <- w.name
				l.release(1)
			}
		}()
		time.Sleep(10 * time.Millisecond) // arrive in this order
	}
	l.release(1)
	got := []string{<-order, <-order, <-order}
	if got[0] != "retry" || got[1] != "new-1" || got[2] != "new-2" {
		t.Errorf("served %v, want the retry first, then the others in arrival order", got)
	}
}

// A waiter whose context ends leaves the queue and takes no slot.
func TestLimiterCancelledWaiter(t *testing.T) {
	l := NewLimiter("t", 1)
	ctx := context.Background()
	if err := l.acquire(ctx, 1, 0); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := l.acquire(short, 1, 0); err == nil {
		t.Fatal("acquired past a full window")
	}
	l.release(1)
	if l.inflight != 0 || len(l.waiters) != 0 {
		t.Errorf("inflight %d, waiters %d after the cancelled waiter", l.inflight, len(l.waiters))
	}
}

// A request answered 429 below its SDK's retry limit is due back: until it
// is back and answered, requests sent fewer times wait, even after the hold
// ends (its SDK sleeps the same Retry-After and may come back late); a
// retry that never comes back holds them for at most retryGrace past the
// hold.
func TestLimiterKeepsTheServiceForDueRetries(t *testing.T) {
	l := NewLimiter("t", 8)
	ctx := context.Background()
	granted := func(priority int) <-chan error {
		ch := make(chan error, 1)
		go func() {
			_, err := l.wait(ctx, &waiter{n: 1, priority: priority, tracked: true})
			ch <- err
		}()
		return ch
	}
	// Attempt 1 of a request answered 429, Retry-After 50 ms.
	l.observe(0, 1, 50*time.Millisecond)
	l.retryFinished(1, true)
	newcomer := granted(0)
	select {
	case <-newcomer:
		t.Fatal("a first attempt went out while a retry was due back")
	case <-time.After(200 * time.Millisecond): // well past the hold
	}
	retry := granted(2)
	if err := <-retry; err != nil {
		t.Fatal(err)
	}
	select {
	case <-newcomer:
		t.Fatal("a first attempt went out while the retry was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	l.retryFinished(2, false) // answered
	l.release(1)
	select {
	case err := <-newcomer:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("the first attempt still waits after the retry was answered")
	}
	l.retryFinished(0, false)
	l.release(1)

	// A retry that never comes back: newcomers wait until retryGrace past
	// the hold, then go.
	l.observe(0, 1, 10*time.Millisecond)
	l.retryFinished(0, true)
	start := time.Now()
	if err := <-granted(0); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < retryGrace-100*time.Millisecond || waited > retryGrace+time.Second {
		t.Errorf("a first attempt waited %v for a retry that never came, want about retryGrace (%v)", waited, retryGrace)
	}
}
