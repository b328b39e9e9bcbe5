package tenant

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// A Limiter paces the requests to one service (Graph, or one vault), so
// that a scan of thousands of items neither floods a service that
// throttles nor stalls when it does. It is adaptive the way TCP's
// congestion window is:
//
//   - at most Window requests are in flight (a $batch counts the requests
//     inside it); the window grows by one for each window's worth of
//     answers that were not throttled, up to its maximum;
//   - a 429 (of a request, or of a request inside a $batch) holds every
//     request to the service until its Retry-After has passed — no request
//     is sent into a throttle the service has announced — and restarts the
//     window at one, so the service's budget is probed again from below
//     instead of by a burst;
//   - requests sent again after a 429 go before requests sent for the first
//     time, and those sent most often before those sent less, so a
//     throttled request is not throttled again by newcomers and stays
//     within the SDK's retry limit. The SDK sleeps the Retry-After itself
//     and comes back about when the hold ends — on a busy machine a little
//     after — so the limiter keeps the service for the retries it expects
//     (a request answered 429 below the SDK's retry limit) until they are
//     back and answered, or retryGrace past the hold.
//
// Graph documents that "Backing off requests using the Retry-After delay is
// the fastest way to recover from throttling because Microsoft Graph
// continues to log resource usage while a client is being throttled"
// (concepts/throttling.md); Key Vault's throttling guidance asks the same.
type Limiter struct {
	service string
	max     float64

	mu        sync.Mutex
	window    float64
	inflight  int
	holdUntil time.Time
	holdTimer *time.Timer
	waiters   []*waiter
	seq       uint64
	stats     ServiceStats

	// Retries by attempt (1 = the first retry): due are answered 429 and
	// expected back from their SDK (until dueUntil); active are back,
	// waiting or in flight. Only waiters at the highest such attempt are
	// admitted.
	due      map[int]int
	active   map[int]int
	dueUntil time.Time
	dueTimer *time.Timer
}

// retryGrace is how long past a hold the limiter keeps the service for the
// retries it expects: the SDKs sleep the same Retry-After, so they come
// back within moments unless the machine is starved; a retry that never
// comes (its caller gave up) costs at most this.
const retryGrace = 2 * time.Second

// ServiceStats is what a Limiter saw of one service.
type ServiceStats struct {
	Service string `json:"service"`
	// HTTPRequests were sent (a $batch envelope is one, a retry another).
	HTTPRequests int `json:"httpRequests"`
	// Requests were carried by them: a $batch counts its requests.
	Requests int `json:"requests"`
	// Throttled are 429 answers, of requests or of requests in a $batch.
	Throttled int `json:"throttled"`
	// Retries are requests sent again after a 429 or a 503/504.
	Retries int `json:"retries"`
	// Held is the time the service was held by Retry-After.
	Held time.Duration `json:"-"`
	// HeldSeconds is Held in seconds, for JSON.
	HeldSeconds float64 `json:"heldSeconds"`
}

type waiter struct {
	n        int
	priority int
	seq      uint64
	ready    chan struct{}
	granted  bool
	// upTo: the waiter takes up to n slots, at least one.
	upTo bool
	got  int
	// tracked: a request of the limited transport, counted in active
	// until retryFinished.
	tracked bool
}

// NewLimiter paces one service with at most maxInFlight requests in
// flight; the window starts there and shrinks on a 429.
func NewLimiter(service string, maxInFlight int) *Limiter {
	if maxInFlight < 1 {
		maxInFlight = 1
	}
	return &Limiter{service: service, max: float64(maxInFlight), window: float64(maxInFlight), stats: ServiceStats{Service: service},
		due: map[int]int{}, active: map[int]int{}}
}

// Stats returns what the limiter has seen so far.
func (l *Limiter) Stats() ServiceStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.HeldSeconds = s.Held.Seconds()
	return s
}

// Window is the current number of requests allowed in flight.
func (l *Limiter) Window() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.window)
}

// acquire waits until n request slots are free (priority: how many times
// the request was sent before; higher goes first).
func (l *Limiter) acquire(ctx context.Context, n, priority int) error {
	_, err := l.wait(ctx, &waiter{n: n, priority: priority})
	return err
}

// acquireUpTo waits until at least one slot is free and takes up to n.
func (l *Limiter) acquireUpTo(ctx context.Context, n, priority int) (int, error) {
	return l.wait(ctx, &waiter{n: n, priority: priority, upTo: true})
}

func (l *Limiter) wait(ctx context.Context, w *waiter) (int, error) {
	w.ready = make(chan struct{})
	l.mu.Lock()
	l.seq++
	w.seq = l.seq
	if w.tracked {
		if l.due[w.priority] > 0 {
			l.due[w.priority]-- // an expected retry has come back
		}
		l.active[w.priority]++
	}
	l.waiters = append(l.waiters, w)
	l.grantLocked(time.Now())
	l.mu.Unlock()
	select {
	case <-w.ready:
		return w.got, nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		if w.granted {
			// Granted as the context ended: hand the slots back.
			l.inflight -= w.got
			l.grantLocked(time.Now())
			return 0, ctx.Err()
		}
		for i, x := range l.waiters {
			if x == w {
				l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
				break
			}
		}
		if w.tracked {
			l.active[w.priority]--
		}
		l.grantLocked(time.Now())
		return 0, ctx.Err()
	}
}

// grantLocked admits waiters in order (priority, then arrival) while the
// window has room and no Retry-After holds the service. l.mu is held.
func (l *Limiter) grantLocked(now time.Time) {
	if now.Before(l.holdUntil) {
		if l.holdTimer == nil {
			l.holdTimer = time.AfterFunc(l.holdUntil.Sub(now), func() {
				l.mu.Lock()
				l.holdTimer = nil
				l.grantLocked(time.Now())
				l.mu.Unlock()
			})
		}
		return
	}
	top := l.topRetryLocked(now)
	for len(l.waiters) > 0 {
		best := 0
		for i, w := range l.waiters {
			b := l.waiters[best]
			if w.priority > b.priority || (w.priority == b.priority && w.seq < b.seq) {
				best = i
			}
		}
		w := l.waiters[best]
		if w.priority < top {
			// Wait for the requests sent more often, due back from their
			// SDK or in flight; if they never come, until dueUntil.
			if l.dueTimer == nil && now.Before(l.dueUntil) {
				l.dueTimer = time.AfterFunc(l.dueUntil.Sub(now), func() {
					l.mu.Lock()
					l.dueTimer = nil
					l.grantLocked(time.Now())
					l.mu.Unlock()
				})
			}
			return
		}
		free := int(l.window) - l.inflight
		switch {
		case w.upTo && free >= 1:
			w.got = min(w.n, free)
		case w.upTo && l.inflight == 0:
			w.got = 1
		case !w.upTo && (free >= w.n || l.inflight == 0):
			// A request larger than the window still goes when nothing
			// else is in flight, so it cannot wait forever.
			w.got = w.n
		default:
			return
		}
		l.inflight += w.got
		w.granted = true
		l.waiters = append(l.waiters[:best], l.waiters[best+1:]...)
		close(w.ready)
	}
}

// topRetryLocked is the highest attempt among retries due or active (0:
// none). Due retries not back by dueUntil are forgotten. l.mu is held.
func (l *Limiter) topRetryLocked(now time.Time) int {
	if !now.Before(l.dueUntil) {
		clear(l.due)
	}
	top := 0
	for k, n := range l.due {
		if n > 0 && k > top {
			top = k
		}
	}
	for k, n := range l.active {
		if n > 0 && k > top {
			top = k
		}
	}
	return top
}

// retryFinished notes that a request of the limited transport, sent for
// the attempt-th time (0: the first), has its answer; throttled and below
// the SDK's retry limit, it is due back as the next attempt.
func (l *Limiter) retryFinished(attempt int, comesBack bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active[attempt] > 0 {
		l.active[attempt]--
	}
	if comesBack {
		l.due[attempt+1]++
		until := l.holdUntil
		if now := time.Now(); until.Before(now) {
			until = now
		}
		if until = until.Add(retryGrace); until.After(l.dueUntil) {
			l.dueUntil = until
		}
	}
	l.grantLocked(time.Now())
}

// release hands n slots back.
func (l *Limiter) release(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight -= n
	l.grantLocked(time.Now())
}

// sent counts one HTTP request carrying requests, retries of them.
func (l *Limiter) sent(requests, retries int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.HTTPRequests++
	l.stats.Requests += requests
	l.stats.Retries += retries
}

// observe adjusts the window to answers: ok not throttled, throttled 429s
// with the longest Retry-After among them.
func (l *Limiter) observe(ok, throttled int, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if throttled > 0 {
		l.stats.Throttled += throttled
		if until := now.Add(retryAfter); until.After(l.holdUntil) {
			start := now
			if l.holdUntil.After(now) {
				start = l.holdUntil
			}
			l.stats.Held += until.Sub(start)
			l.holdUntil = until
		}
		l.window = 1
	}
	if ok > 0 && throttled == 0 {
		l.window = min(l.max, l.window+float64(ok)/l.window)
	}
	l.grantLocked(now)
}

// retryAfter reads a Retry-After header: seconds (what Graph and Key
// Vault send) or an HTTP date; zero when absent or unreadable.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(h, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		return time.Until(t)
	}
	return 0
}

// Context values the limited transport reads.
type (
	slotsHeldKey struct{}
	attemptsKey  struct{}
)

// withSlotsHeld marks a request whose limiter slots the caller already
// holds (a $batch sized to the window).
func withSlotsHeld(ctx context.Context) context.Context {
	return context.WithValue(ctx, slotsHeldKey{}, true)
}

// limitedTransport sends each request through its service's Limiter.
type limitedTransport struct {
	next    http.RoundTripper
	limiter *Limiter
	// maxRetries is the SDK's retry limit: a request answered 429 before
	// it is reached is sent again (kiota's retry handler and azcore's
	// retry policy both sleep the Retry-After first).
	maxRetries int
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if held, _ := ctx.Value(slotsHeldKey{}).(bool); held {
		// A $batch: its sender holds the slots and judges the requests
		// inside it; only a throttled envelope is the transport's to see.
		resp, err := t.next.RoundTrip(req)
		if err == nil && resp.StatusCode == http.StatusTooManyRequests {
			t.limiter.observe(0, 1, retryAfter(resp.Header.Get("Retry-After")))
		}
		return resp, err
	}
	attempt := attemptOf(req)
	if _, err := t.limiter.wait(ctx, &waiter{n: 1, priority: attempt, tracked: true}); err != nil {
		return nil, err
	}
	retries := 0
	if attempt > 0 {
		retries = 1
	}
	t.limiter.sent(1, retries)
	resp, err := t.next.RoundTrip(req)
	// The answer is judged before the slot is handed back, so no request
	// waiting for the slot is sent into a throttle just announced.
	if err != nil {
		t.limiter.retryFinished(attempt, false)
		t.limiter.release(1)
		return resp, err
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		t.limiter.observe(0, 1, retryAfter(resp.Header.Get("Retry-After")))
	case resp.StatusCode < 500:
		t.limiter.observe(1, 0, 0)
	}
	t.limiter.retryFinished(attempt, resp.StatusCode == http.StatusTooManyRequests && attempt < t.maxRetries)
	t.limiter.release(1)
	return resp, nil
}

// attemptOf is how many times the request was sent before: kiota's retry
// handler says so in the Retry-Attempt header; for azcore, the counter
// countAttempts put in the context.
func attemptOf(req *http.Request) int {
	if n, err := strconv.Atoi(req.Header.Get("Retry-Attempt")); err == nil && n > 0 {
		return n
	}
	if c, ok := req.Context().Value(attemptsKey{}).(*atomic.Int32); ok {
		return int(c.Add(1)) - 1
	}
	return 0
}

// countAttempts is an azcore per-call policy: it gives each operation a
// counter the limited transport advances on every try, since azcore's
// retry policy clones the request for each try and marks none of them.
type countAttempts struct{}

func (countAttempts) Do(req *policy.Request) (*http.Response, error) {
	return req.WithContext(context.WithValue(req.Raw().Context(), attemptsKey{}, new(atomic.Int32))).Next()
}
