package jobs

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"time"
)

// Dead-letter reasons. ReasonMaxDeliveryCountExceeded is the one Service Bus
// itself uses; ReasonPermanent is Memory's for a permanent handler error.
const (
	ReasonMaxDeliveryCountExceeded = "MaxDeliveryCountExceeded"
	ReasonPermanent                = "PermanentError"
)

// Defaults matching the Service Bus queues infra creates (and Service Bus's
// default duplicate detection window).
const (
	DefaultMaxDeliveryCount = 5
	DefaultDuplicateWindow  = 10 * time.Minute
)

// MemoryOptions configure a Memory. Zero values take the defaults.
type MemoryOptions struct {
	Queues Queues
	// Clock is the time source (time.Now when nil); tests move it to
	// release scheduled jobs and expire the duplicate window.
	Clock func() time.Time
	// DuplicateWindow is how long a MessageID is remembered per queue;
	// negative turns duplicate detection off.
	DuplicateWindow  time.Duration
	MaxDeliveryCount int
}

// Stats describe one Drain.
type Stats struct {
	// Delivered counts handler calls, redeliveries included.
	Delivered int `json:"delivered"`
	// Completed counts deliveries the handler finished (nil error).
	Completed int `json:"completed"`
	// Retried counts failed deliveries made available again.
	Retried int `json:"retried"`
	// DeadLettered counts messages moved to a dead-letter queue.
	DeadLettered int `json:"deadLettered"`
	// DuplicatesDropped counts sends dropped by duplicate detection since
	// the previous Drain returned, so the sends that seeded this Drain
	// count as well as those made by its handlers.
	DuplicatesDropped int `json:"duplicatesDropped"`
	// ScheduledLater counts messages still held at the end because their
	// NotBefore has not come yet.
	ScheduledLater int `json:"scheduledLater"`
}

// Memory is an in-process Sender with Service Bus queue semantics: duplicate
// detection by MessageID within a window, scheduled messages held until
// NotBefore, FIFO delivery per queue, a delivery count, and dead-lettering
// after MaxDeliveryCount. It is safe for concurrent use; handlers may Send
// while Drain runs.
type Memory struct {
	queues      Queues
	clock       func() time.Time
	window      time.Duration
	maxDelivery int

	mu     sync.Mutex
	seq    int64
	qs     map[string]*memQueue
	nDups  int // duplicates since the last Drain returned
	nSched int // scheduled messages held, all queues
}

type memQueue struct {
	active    []*memMsg // ordered by seq; in-flight messages are taken out
	scheduled []*memMsg
	dead      []*memMsg
	seen      map[string]time.Time // MessageID → send time, for duplicate detection
	sweepAt   int                  // len(seen) that triggers the next sweep
}

type memMsg struct {
	queue      string
	id         string
	body       []byte
	job        Job
	seq        int64
	enqueuedAt time.Time // when it became available
	due        time.Time // scheduled messages only
	deliveries int
	reason     string // dead letters only
	desc       string
}

// NewMemory makes an empty in-process queue set.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{
		queues:      opts.Queues.withDefaults(),
		clock:       opts.Clock,
		window:      opts.DuplicateWindow,
		maxDelivery: opts.MaxDeliveryCount,
		qs:          map[string]*memQueue{},
	}
	if m.clock == nil {
		m.clock = time.Now
	}
	if m.window == 0 {
		m.window = DefaultDuplicateWindow
	}
	if m.maxDelivery <= 0 {
		m.maxDelivery = DefaultMaxDeliveryCount
	}
	return m
}

// Queues returns the queue names in use.
func (m *Memory) Queues() Queues { return m.queues }

func (m *Memory) queue(name string) *memQueue {
	q, ok := m.qs[name]
	if !ok {
		q = &memQueue{seen: map[string]time.Time{}, sweepAt: 1024}
		m.qs[name] = q
	}
	return q
}

// Send validates every job, then enqueues them; nothing is enqueued when a
// job is invalid. A job whose MessageID was sent to the same queue within
// the duplicate window is dropped, as Service Bus does.
func (m *Memory) Send(_ context.Context, jobs ...Job) error {
	type enc struct {
		j    Job
		body []byte
	}
	encoded := make([]enc, 0, len(jobs))
	for _, j := range jobs {
		if err := j.Validate(); err != nil {
			return fmt.Errorf("jobs: not sending: %w", err)
		}
		body, err := j.Encode()
		if err != nil {
			return fmt.Errorf("jobs: encode %s job: %w", j.Kind, err)
		}
		encoded = append(encoded, enc{j, body})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	for _, e := range encoded {
		m.enqueue(now, m.queues.Queue(e.j.Kind), e.j.MessageID(), e.body, e.j, e.j.NotBefore)
	}
	return nil
}

// enqueue adds one message; m.mu is held.
func (m *Memory) enqueue(now time.Time, queue, id string, body []byte, j Job, notBefore *time.Time) {
	q := m.queue(queue)
	if m.window > 0 {
		if at, ok := q.seen[id]; ok && now.Sub(at) < m.window {
			m.nDups++
			return
		}
		q.seen[id] = now
		m.forget(q, now)
	}
	m.seq++
	msg := &memMsg{queue: queue, id: id, body: body, job: j, seq: m.seq, enqueuedAt: now}
	if notBefore != nil && notBefore.After(now) {
		msg.due = *notBefore
		msg.enqueuedAt = *notBefore // Service Bus reports the scheduled time as enqueued time
		q.scheduled = append(q.scheduled, msg)
		m.nSched++
		return
	}
	q.active = append(q.active, msg)
}

// forget drops IDs older than the window so a long CLI run does not keep
// every ID it ever saw. It sweeps only when the map has doubled since the
// last sweep, which keeps Send amortised O(1).
func (m *Memory) forget(q *memQueue, now time.Time) {
	if len(q.seen) < q.sweepAt {
		return
	}
	for id, at := range q.seen {
		if now.Sub(at) >= m.window {
			delete(q.seen, id)
		}
	}
	q.sweepAt = max(1024, 2*len(q.seen))
}

// next takes the due message with the lowest sequence number out of its
// queue (FIFO per queue, and across queues in send order), after moving
// scheduled messages whose time has come to their queue. Nil when nothing
// is due.
func (m *Memory) next() *memMsg {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	var best *memQueue
	for _, q := range m.qs {
		if len(q.scheduled) > 0 {
			kept := q.scheduled[:0]
			for _, msg := range q.scheduled {
				if msg.due.After(now) {
					kept = append(kept, msg)
					continue
				}
				m.nSched--
				q.active = insertBySeq(q.active, msg)
			}
			clear(q.scheduled[len(kept):])
			q.scheduled = kept
		}
		if len(q.active) > 0 && (best == nil || q.active[0].seq < best.active[0].seq) {
			best = q
		}
	}
	if best == nil {
		return nil
	}
	msg := best.active[0]
	best.active[0] = nil
	best.active = best.active[1:]
	msg.deliveries++
	return msg
}

func insertBySeq(list []*memMsg, msg *memMsg) []*memMsg {
	i := sort.Search(len(list), func(i int) bool { return list[i].seq > msg.seq })
	list = append(list, nil)
	copy(list[i+1:], list[i:])
	list[i] = msg
	return list
}

// settle applies the handler's outcome; it reports whether the message was
// retried and whether it was dead-lettered.
func (m *Memory) settle(msg *memMsg, err error) (retried, dead bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queue(msg.queue)
	switch {
	case err == nil:
		return false, false
	case IsPermanent(err):
		msg.reason, msg.desc = ReasonPermanent, err.Error()
	case msg.deliveries >= m.maxDelivery:
		msg.reason = ReasonMaxDeliveryCountExceeded
		msg.desc = fmt.Sprintf("Message could not be consumed after %d delivery attempts; last error: %v", msg.deliveries, err)
	default:
		// Abandon: back at its place in the queue, so it is the next
		// delivery, as an abandoned Service Bus message usually is.
		q.active = insertBySeq(q.active, msg)
		return true, false
	}
	q.dead = append(q.dead, msg)
	return false, true
}

// Drain delivers every message that is due, FIFO per queue, until none is
// left: a failed delivery is retried until MaxDeliveryCount and then
// dead-lettered, a permanent error dead-letters at once, and jobs that
// handlers Send (or that become due as the clock moves) are delivered in the
// same Drain. Messages scheduled for later stay queued. Handlers run one at
// a time; a panicking handler counts as a failed delivery, as in the
// Functions host. Drain stops early, with ctx's error, when ctx ends.
func (m *Memory) Drain(ctx context.Context, handle func(ctx context.Context, d Delivery) error) (Stats, error) {
	var st Stats
	finish := func(err error) (Stats, error) {
		m.mu.Lock()
		st.DuplicatesDropped, m.nDups = m.nDups, 0
		st.ScheduledLater = m.nSched
		m.mu.Unlock()
		return st, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return finish(err)
		}
		msg := m.next()
		if msg == nil {
			return finish(nil)
		}
		st.Delivered++
		err := callHandler(ctx, handle, Delivery{
			Job: msg.job, MessageID: msg.id, DeliveryCount: msg.deliveries,
			EnqueuedAt: msg.enqueuedAt, Body: append([]byte(nil), msg.body...),
		})
		retried, dead := m.settle(msg, err)
		switch {
		case err == nil:
			st.Completed++
		case retried:
			st.Retried++
		case dead:
			st.DeadLettered++
		}
	}
}

func callHandler(ctx context.Context, handle func(context.Context, Delivery) error, d Delivery) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return handle(ctx, d)
}

// DeadLetters lists up to max (≤ 0: all) dead-lettered messages of queue,
// oldest first. It has ServiceBus.DeadLetters's signature so that the
// command line can use either.
func (m *Memory) DeadLetters(_ context.Context, queue string, max int) ([]DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.qs[queue]
	if !ok {
		return nil, nil
	}
	var out []DeadLetter
	for _, msg := range q.dead {
		if max > 0 && len(out) >= max {
			break
		}
		dl := newDeadLetter(queue, msg.id, msg.body)
		dl.SequenceNumber = msg.seq
		dl.Reason, dl.Description = msg.reason, msg.desc
		dl.DeliveryCount = msg.deliveries
		dl.EnqueuedAt = msg.enqueuedAt
		out = append(out, dl)
	}
	return out, nil
}

// Resubmit moves the dead-lettered message messageID back to the end of
// queue under a fresh MessageID (ResubmitID), with its delivery count reset.
func (m *Memory) Resubmit(_ context.Context, queue, messageID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.qs[queue]
	if ok {
		for i, msg := range q.dead {
			if msg.id != messageID {
				continue
			}
			q.dead = append(q.dead[:i], q.dead[i+1:]...)
			m.enqueue(m.clock(), queue, ResubmitID(msg.id), msg.body, msg.job, nil)
			return nil
		}
	}
	return fmt.Errorf("%w: %s in %s", ErrNoSuchMessage, messageID, queue)
}

// Pending counts messages waiting in the queues: available now or scheduled
// (not those a handler is working on).
func (m *Memory) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nSched
	for _, q := range m.qs {
		n += len(q.active)
	}
	return n
}
