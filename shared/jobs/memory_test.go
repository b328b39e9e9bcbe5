package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The command line lists and resubmits dead letters through one interface,
// whichever implementation it runs with.
var _ interface {
	DeadLetters(ctx context.Context, queue string, max int) ([]DeadLetter, error)
	Resubmit(ctx context.Context, queue, messageID string) error
} = (*Memory)(nil)

var _ interface {
	DeadLetters(ctx context.Context, queue string, max int) ([]DeadLetter, error)
	Resubmit(ctx context.Context, queue, messageID string) error
} = (*ServiceBus)(nil)

// fakeClock is a settable clock for Memory.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestMemory() (*Memory, *fakeClock) {
	clock := &fakeClock{now: day}
	return NewMemory(MemoryOptions{Clock: clock.Now}), clock
}

func refreshJob(id string) Job {
	return Job{Version: Version, Kind: KindRefreshMetadata, Dependency: "federation/" + id, Reason: "scan", CreatedAt: day}
}

func notifyJob(dep, stage string) Job {
	return Job{Version: Version, Kind: KindNotifyOwner, Dependency: dep, Reason: "scan", Stage: stage, CreatedAt: day}
}

// record collects the deliveries a handler saw.
type record struct {
	mu  sync.Mutex
	got []Delivery
}

func (r *record) add(d Delivery) {
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
}

func (r *record) deps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, d := range r.got {
		out = append(out, d.Job.Dependency)
	}
	return out
}

func TestMemoryDuplicateDropped(t *testing.T) {
	ctx := context.Background()
	m, clock := newTestMemory()
	j := refreshJob("a")
	if err := m.Send(ctx, j, j); err != nil {
		t.Fatal(err)
	}
	// Another scan an hour later the same day: same ID, but the default
	// 10-minute window has passed, so Service Bus would accept it again.
	later := j
	later.CreatedAt = day.Add(time.Minute)
	if err := m.Send(ctx, later); err != nil {
		t.Fatal(err)
	}
	clock.Advance(11 * time.Minute)
	if err := m.Send(ctx, later); err != nil {
		t.Fatal(err)
	}
	var rec record
	st, err := m.Drain(ctx, func(_ context.Context, d Delivery) error { rec.add(d); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Delivered != 2 || st.Completed != 2 || st.DuplicatesDropped != 2 {
		t.Errorf("stats = %+v, want 2 delivered/completed and 2 duplicates dropped", st)
	}
	if rec.got[0].MessageID != j.MessageID() || rec.got[0].DeliveryCount != 1 {
		t.Errorf("delivery = %+v", rec.got[0])
	}
	// The counter resets once reported.
	if st, _ := m.Drain(ctx, func(context.Context, Delivery) error { return nil }); st.DuplicatesDropped != 0 {
		t.Errorf("second drain reports %d duplicates again", st.DuplicatesDropped)
	}
}

func TestMemoryScheduledHeldUntilDue(t *testing.T) {
	ctx := context.Background()
	m, clock := newTestMemory()
	j := refreshJob("later")
	j.NotBefore = ptr(day.Add(24 * time.Hour))
	if err := m.Send(ctx, j, refreshJob("now")); err != nil {
		t.Fatal(err)
	}
	var rec record
	handle := func(_ context.Context, d Delivery) error { rec.add(d); return nil }
	st, err := m.Drain(ctx, handle)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.deps(); len(got) != 1 || got[0] != "federation/now" || st.ScheduledLater != 1 || m.Pending() != 1 {
		t.Fatalf("before NotBefore delivered %v, stats %+v, pending %d: want only the immediate job, 1 held", got, st, m.Pending())
	}
	clock.Advance(24*time.Hour - time.Second)
	if st, _ := m.Drain(ctx, handle); st.Delivered != 0 {
		t.Fatalf("delivered a second early: %+v", st)
	}
	clock.Advance(time.Second)
	st, err = m.Drain(ctx, handle)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.deps(); len(got) != 2 || got[1] != "federation/later" || st.ScheduledLater != 0 {
		t.Fatalf("after NotBefore delivered %v, stats %+v", got, st)
	}
	if !rec.got[1].EnqueuedAt.Equal(*j.NotBefore) {
		t.Errorf("EnqueuedAt = %v, want the scheduled time", rec.got[1].EnqueuedAt)
	}
}

func TestMemoryRetryThenDeadLetter(t *testing.T) {
	ctx := context.Background()
	m, _ := newTestMemory()
	if err := m.Send(ctx, refreshJob("flaky"), refreshJob("broken"), refreshJob("fine")); err != nil {
		t.Fatal(err)
	}
	var order []string
	st, err := m.Drain(ctx, func(_ context.Context, d Delivery) error {
		order = append(order, fmt.Sprintf("%s#%d", strings.TrimPrefix(d.Job.Dependency, "federation/"), d.DeliveryCount))
		switch d.Job.Dependency {
		case "federation/flaky":
			if d.DeliveryCount < 3 {
				return errors.New("metadata host timed out")
			}
		case "federation/broken":
			return fmt.Errorf("attempt %d: 503 from metadata host", d.DeliveryCount)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// An abandoned message is redelivered before the ones behind it (FIFO).
	want := "flaky#1 flaky#2 flaky#3 broken#1 broken#2 broken#3 broken#4 broken#5 fine#1"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("delivery order\n got %s\nwant %s", got, want)
	}
	if (st != Stats{Delivered: 9, Completed: 2, Retried: 6, DeadLettered: 1}) {
		t.Errorf("stats = %+v", st)
	}
	dls, err := m.DeadLetters(ctx, DefaultQueueMetadata, 0)
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters = %+v, %v", dls, err)
	}
	dl := dls[0]
	if dl.Reason != ReasonMaxDeliveryCountExceeded || !strings.Contains(dl.Description, "attempt 5: 503 from metadata host") ||
		dl.DeliveryCount != 5 || dl.Job == nil || dl.Job.Dependency != "federation/broken" || dl.MessageID != refreshJob("broken").MessageID() {
		t.Errorf("dead letter = %+v: want MaxDeliveryCountExceeded after 5 with the last error", dl)
	}
}

func TestMemoryPermanentDeadLettersAtOnce(t *testing.T) {
	ctx := context.Background()
	m, _ := newTestMemory()
	if err := m.Send(ctx, refreshJob("gone")); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Drain(ctx, func(context.Context, Delivery) error {
		return Permanent(errors.New("federation partner deleted"))
	})
	dls, _ := m.DeadLetters(ctx, DefaultQueueMetadata, 0)
	if st.Delivered != 1 || st.DeadLettered != 1 || len(dls) != 1 || dls[0].Reason != ReasonPermanent {
		t.Errorf("stats %+v, dead letters %+v: want one delivery, dead-lettered as permanent", st, dls)
	}
}

func TestMemoryResubmit(t *testing.T) {
	ctx := context.Background()
	m, _ := newTestMemory()
	j := refreshJob("x")
	if err := m.Send(ctx, j); err != nil {
		t.Fatal(err)
	}
	fail := true
	var rec record
	handle := func(_ context.Context, d Delivery) error {
		rec.add(d)
		if fail {
			return errors.New("down")
		}
		return nil
	}
	if st, _ := m.Drain(ctx, handle); st.DeadLettered != 1 {
		t.Fatalf("want the job dead-lettered, stats %+v", st)
	}
	if err := m.Resubmit(ctx, DefaultQueueMetadata, "no-such-id"); !errors.Is(err, ErrNoSuchMessage) {
		t.Errorf("resubmit unknown ID: %v", err)
	}
	// The original ID is still inside the duplicate window: a resubmission
	// under the same ID would be dropped, hence the fresh suffix.
	if err := m.Resubmit(ctx, DefaultQueueMetadata, j.MessageID()); err != nil {
		t.Fatal(err)
	}
	fail = false
	st, _ := m.Drain(ctx, handle)
	last := rec.got[len(rec.got)-1]
	if st.Completed != 1 || last.DeliveryCount != 1 || last.MessageID == j.MessageID() ||
		!strings.HasPrefix(last.MessageID, j.MessageID()+"_r") || last.Job.Dependency != "federation/x" {
		t.Errorf("after resubmit: stats %+v, last delivery %+v", st, last)
	}
	if dls, _ := m.DeadLetters(ctx, DefaultQueueMetadata, 0); len(dls) != 0 {
		t.Errorf("dead letters after resubmit: %+v", dls)
	}
}

func TestResubmitID(t *testing.T) {
	a, b := ResubmitID("job-1"), ResubmitID("job-1")
	if a == b || !strings.HasPrefix(a, "job-1_r") || len(a) != len("job-1")+10 {
		t.Errorf("ResubmitID = %s, %s: want two different job-1_r<8 hex>", a, b)
	}
	// Resubmitting a resubmission replaces the suffix instead of growing.
	if again := ResubmitID(a); len(again) != len(a) || !strings.HasPrefix(again, "job-1_r") {
		t.Errorf("ResubmitID(%s) = %s", a, again)
	}
	if long := ResubmitID(strings.Repeat("x", 128)); len(long) != 128 {
		t.Errorf("ResubmitID of a 128-char ID is %d chars", len(long))
	}
}

func TestMemoryJobsSentDuringDrain(t *testing.T) {
	ctx := context.Background()
	m, _ := newTestMemory()
	if err := m.Send(ctx, refreshJob("a"), refreshJob("b")); err != nil {
		t.Fatal(err)
	}
	var rec record
	st, err := m.Drain(ctx, func(ctx context.Context, d Delivery) error {
		rec.add(d)
		if d.Job.Kind == KindRefreshMetadata {
			// A refresh that finds a problem notifies the owner; sending
			// the same notice twice is dropped as a duplicate.
			n := notifyJob(d.Job.Dependency, "d30")
			return m.Send(ctx, n, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rec.deps(), " ")
	if got != "federation/a federation/b federation/a federation/b" || st.Delivered != 4 || st.DuplicatesDropped != 2 {
		t.Errorf("delivered %s, stats %+v: want both refreshes then both notices, 2 duplicates", got, st)
	}
	if rec.got[2].Job.Kind != KindNotifyOwner {
		t.Errorf("third delivery = %+v, want a notice", rec.got[2].Job)
	}
}

func TestMemoryRejectsInvalidJobs(t *testing.T) {
	m, _ := newTestMemory()
	bad := refreshJob("a")
	bad.Dependency = ""
	if err := m.Send(context.Background(), refreshJob("ok"), bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Send with an invalid job: %v", err)
	}
	if m.Pending() != 0 {
		t.Error("a Send with one invalid job enqueued the others")
	}
}

func TestMemoryPanicIsAFailedDelivery(t *testing.T) {
	m := NewMemory(MemoryOptions{MaxDeliveryCount: 2})
	if err := m.Send(context.Background(), refreshJob("p")); err != nil {
		t.Fatal(err)
	}
	st, err := m.Drain(context.Background(), func(context.Context, Delivery) error { panic("nil map") })
	if err != nil || st.Delivered != 2 || st.DeadLettered != 1 {
		t.Errorf("stats %+v, %v: want 2 deliveries then dead-letter", st, err)
	}
}

func TestMemoryDrainStopsOnCancel(t *testing.T) {
	m, _ := newTestMemory()
	_ = m.Send(context.Background(), refreshJob("a"), refreshJob("b"))
	ctx, cancel := context.WithCancel(context.Background())
	st, err := m.Drain(ctx, func(context.Context, Delivery) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) || st.Delivered != 1 || m.Pending() != 1 {
		t.Errorf("Drain after cancel: %+v, %v, pending %d", st, err, m.Pending())
	}
}

// Run with -race: senders and a drainer at once, nothing lost or doubled.
func TestMemoryConcurrentSend(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(MemoryOptions{})
	const senders, each = 8, 200
	var seen sync.Map
	var delivered, dup int
	var mu sync.Mutex
	handle := func(_ context.Context, d Delivery) error {
		if _, loaded := seen.LoadOrStore(d.MessageID, true); loaded {
			mu.Lock()
			dup++
			mu.Unlock()
		}
		mu.Lock()
		delivered++
		mu.Unlock()
		return nil
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Every sender sends every job of its half twice.
				j := refreshJob(fmt.Sprintf("s%d-%d", s%4, i))
				if err := m.Send(ctx, j); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			if _, err := m.Drain(ctx, handle); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	<-done
	if _, err := m.Drain(ctx, handle); err != nil {
		t.Fatal(err)
	}
	if delivered != 4*each || dup != 0 {
		t.Errorf("delivered %d (%d twice), want %d distinct jobs once each", delivered, dup, 4*each)
	}
}

// BenchmarkMemoryPipeline measures jobs per second through Memory: Send
// (validation, JSON encoding, MessageID hashing, duplicate detection) and
// Drain to a handler that does nothing.
func BenchmarkMemoryPipeline(b *testing.B) {
	ctx := context.Background()
	m := NewMemory(MemoryOptions{})
	jobs := make([]Job, 100)
	handle := func(context.Context, Delivery) error { return nil }
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		for k := range jobs {
			jobs[k] = notifyJob(fmt.Sprintf("social/idp-%d", n), "d30")
			n++
		}
		if err := m.Send(ctx, jobs...); err != nil {
			b.Fatal(err)
		}
		if st, err := m.Drain(ctx, handle); err != nil || st.Completed != len(jobs) {
			b.Fatalf("drain: %+v, %v", st, err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "jobs/s")
}
