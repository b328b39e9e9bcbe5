package tenant

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
)

// JSON batching (concepts/json-batching.md): while Reader.Read runs, every
// Graph GET the readers make (eachPage, object) is queued, and a
// dispatcher sends the queue as POST /$batch envelopes of up to 20
// requests, sized to the Graph limiter's window. Each request keeps its
// own fate, as the page says ("A 200 status code on the batch response
// headers doesn't indicate that the individual requests inside the batch
// succeeded"):
//
//   - a 2xx answer is handed to its reader, which checks its shape and
//     follows its nextLink (the next page joins a later batch);
//   - 403/404 and every other error become that request's GraphError, so a
//     403 on one user flow is one gap, as without batching;
//   - 429 (and 503/504, which kiota's retry handler repeats too) is sent
//     again in a later batch after its own Retry-After ("Requests in a
//     batch are evaluated individually against the applicable throttling
//     limits"), at most maxRetries times — the SDK's own limit — and the
//     limiter holds all of Graph meanwhile.
//
// Batching saves round trips, not throttling budget: Graph counts each
// request inside a batch against its limits.

// MaxBatchRequests is Graph's limit of requests in one $batch.
const MaxBatchRequests = 20

// batchLinger is how long the dispatcher waits for more requests before it
// sends a batch that is not full: the readers queue their next requests as
// answers arrive, and a few milliseconds gather them into one round trip
// of tens of milliseconds.
const batchLinger = 3 * time.Millisecond

type batcherKey struct{}

func batcherFrom(ctx context.Context) *batcher {
	b, _ := ctx.Value(batcherKey{}).(*batcher)
	return b
}

type batcher struct {
	g          *Graph
	base       string
	maxRetries int
	ctx        context.Context

	mu    sync.Mutex
	queue []*batchItem
	seq   uint64
	wake  chan struct{}
	done  chan struct{}
	sends sync.WaitGroup
}

type batchItem struct {
	ctx       context.Context
	rel       string
	shown     string
	sends     int
	seq       uint64
	notBefore time.Time
	// waited is the time spent waiting to send it again, all retries.
	waited time.Duration
	result chan batchResult
}

// maxRetryWait is how long a request may wait for its retries in all:
// kiota's retry handler gives up past 180 s of cumulative delay
// (absoluteMaxDelaySeconds), and a request in a batch does the same.
const maxRetryWait = 180 * time.Second

type batchResult struct {
	body []byte
	err  error
}

// startBatching returns a context whose Graph GETs go through a new
// batcher, and the function that stops it once no reader uses it.
func (g *Graph) startBatching(ctx context.Context) (context.Context, func()) {
	b := &batcher{
		g:          g,
		base:       strings.TrimRight(g.adapter.GetBaseUrl(), "/"),
		maxRetries: (&khttp.RetryHandlerOptions{}).GetMaxRetries(),
		ctx:        ctx,
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	go b.run()
	return context.WithValue(ctx, batcherKey{}, b), func() {
		close(b.done)
		b.sends.Wait()
	}
}

// get queues one GET and waits for its answer.
func (b *batcher) get(ctx context.Context, absoluteURL, shown string) ([]byte, error) {
	rel, ok := strings.CutPrefix(absoluteURL, b.base)
	if !ok || !strings.HasPrefix(rel, "/") {
		// Not under the version root (cannot happen for the reader's own
		// routes; eachPage keeps nextLinks on the Graph host): send alone.
		return b.g.send(ctx, absoluteURL, shown)
	}
	it := &batchItem{ctx: ctx, rel: rel, shown: shown, result: make(chan batchResult, 1)}
	b.enqueue(it)
	select {
	case r := <-it.result:
		return r.body, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("GET %s: %w", shown, ctx.Err())
	}
}

func (b *batcher) enqueue(it *batchItem) {
	b.mu.Lock()
	if it.seq == 0 {
		b.seq++
		it.seq = b.seq
	}
	b.queue = append(b.queue, it)
	b.mu.Unlock()
	b.poke()
}

func (b *batcher) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// ready removes cancelled items and reports how many items may be sent
// now, the priority of the first, and when the next one becomes ready.
func (b *batcher) ready(now time.Time) (n, priority int, next time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.queue[:0]
	for _, it := range b.queue {
		if it.ctx.Err() != nil {
			it.result <- batchResult{err: fmt.Errorf("GET %s: %w", it.shown, it.ctx.Err())}
			continue
		}
		kept = append(kept, it)
		if it.notBefore.After(now) {
			if next.IsZero() || it.notBefore.Before(next) {
				next = it.notBefore
			}
			continue
		}
		n++
		priority = max(priority, it.sends)
	}
	b.queue = kept
	return n, priority, next
}

// take removes up to n ready items, those sent most often first.
func (b *batcher) take(n int, now time.Time) []*batchItem {
	b.mu.Lock()
	defer b.mu.Unlock()
	var picked []*batchItem
	for len(picked) < n {
		best := -1
		for i, it := range b.queue {
			if it.notBefore.After(now) {
				continue
			}
			if best < 0 || it.sends > b.queue[best].sends || (it.sends == b.queue[best].sends && it.seq < b.queue[best].seq) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		picked = append(picked, b.queue[best])
		b.queue = append(b.queue[:best], b.queue[best+1:]...)
	}
	return picked
}

func (b *batcher) run() {
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	go func() {
		select {
		case <-b.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	lingered := false
	for {
		now := time.Now()
		n, priority, next := b.ready(now)
		if n == 0 {
			lingered = false
			var timer <-chan time.Time
			var t *time.Timer
			if !next.IsZero() {
				t = time.NewTimer(next.Sub(now))
				timer = t.C
			}
			select {
			case <-ctx.Done():
				return
			case <-b.wake:
			case <-timer:
			}
			if t != nil {
				t.Stop()
			}
			continue
		}
		if n < MaxBatchRequests && !lingered {
			lingered = true
			select {
			case <-ctx.Done():
				return
			case <-time.After(batchLinger):
			}
			continue
		}
		lingered = false
		slots := min(n, MaxBatchRequests)
		if l := b.g.limiter; l != nil {
			var err error
			if slots, err = l.acquireUpTo(ctx, slots, priority); err != nil {
				return
			}
		}
		items := b.take(slots, time.Now())
		if len(items) == 0 {
			if l := b.g.limiter; l != nil {
				l.release(slots)
			}
			continue
		}
		if extra := slots - len(items); extra > 0 && b.g.limiter != nil {
			b.g.limiter.release(extra)
		}
		b.sends.Add(1)
		go func() {
			defer b.sends.Done()
			defer func() {
				// A panic while sending is a bug; each request of the
				// batch fails with it instead of the process ending.
				if v := recover(); v != nil {
					for _, it := range items {
						select {
						case it.result <- batchResult{err: &PanicError{Value: v}}:
						default:
						}
					}
				}
			}()
			b.send(ctx, items)
		}()
	}
}

type batchRequest struct {
	ID     string `json:"id"`
	Method string `json:"method"`
	URL    string `json:"url"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// send sends one envelope and settles or requeues each of its items.
func (b *batcher) send(ctx context.Context, items []*batchItem) {
	l := b.g.limiter
	defer func() {
		if l != nil {
			l.release(len(items))
		}
	}()
	reqs := make([]batchRequest, len(items))
	retries := 0
	for i, it := range items {
		reqs[i] = batchRequest{ID: strconv.Itoa(i + 1), Method: http.MethodGet, URL: it.rel}
		if it.sends > 0 {
			retries++
		}
		it.sends++
	}
	payload, _ := json.Marshal(map[string]any{"requests": reqs})
	if l != nil {
		l.sent(len(items), retries)
	}
	body, err := b.g.postBatch(withSlotsHeld(ctx), payload)
	if err != nil {
		for _, it := range items {
			it.result <- batchResult{err: fmt.Errorf("GET %s (in a $batch): %w", it.shown, err)}
		}
		return
	}
	var env struct {
		Responses []batchResponse `json:"responses"`
	}
	if reason := notAnObject(body); reason != "" || json.Unmarshal(body, &env) != nil || env.Responses == nil {
		for _, it := range items {
			it.result <- batchResult{err: &ShapeError{Method: "POST", Path: "/$batch (carrying GET " + it.shown + ")", Reason: "the answer is not {\"responses\": [...]}"}}
		}
		return
	}
	byID := make(map[string]*batchResponse, len(env.Responses))
	for i := range env.Responses {
		byID[strings.ToLower(env.Responses[i].ID)] = &env.Responses[i]
	}
	ok, throttled := 0, 0
	var wait time.Duration
	now := time.Now()
	for i, it := range items {
		r := byID[reqs[i].ID]
		switch {
		case r == nil:
			it.result <- batchResult{err: &ShapeError{Method: "GET", Path: it.shown, Reason: "the $batch answer has no response for this request"}}
		case r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable || r.Status == http.StatusGatewayTimeout:
			delay := retryAfter(header(r.Headers, "Retry-After"))
			if delay <= 0 {
				delay = backoff(it.sends)
			}
			if r.Status == http.StatusTooManyRequests {
				throttled++
				wait = max(wait, delay)
			}
			if it.sends > b.maxRetries || it.waited+delay > maxRetryWait {
				it.result <- batchResult{err: innerError(it.shown, r)}
				continue
			}
			it.waited += delay
			it.notBefore = now.Add(delay)
			b.enqueue(it)
		case r.Status >= 200 && r.Status < 300:
			ok++
			it.result <- batchResult{body: innerBody(r.Body)}
		default:
			ok++
			it.result <- batchResult{err: innerError(it.shown, r)}
		}
	}
	if l != nil {
		l.observe(ok, throttled, wait)
	}
	if wait > 0 {
		// Wake the dispatcher when the first retry is due.
		time.AfterFunc(wait, b.poke)
	}
}

// backoff is kiota's retry delay when an answer names none: 3 s doubled
// per attempt, plus up to a second of jitter.
func backoff(sends int) time.Duration {
	return time.Duration(3*(1<<max(sends-1, 0)))*time.Second + time.Duration(rand.Int64N(int64(time.Second)))
}

func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// innerBody is a request's body: a JSON value as it is, a string (the
// base64 form json-batching.md allows for non-JSON bodies) decoded.
func innerBody(raw json.RawMessage) []byte {
	var s string
	if jsonKind(raw) == "a string" && json.Unmarshal(raw, &s) == nil {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if d, err := enc.DecodeString(s); err == nil {
				return d
			}
		}
	}
	return raw
}

// innerError is a request's error answer as a GraphError.
func innerError(shown string, r *batchResponse) error {
	ge := &GraphError{Method: "GET", Path: shown, Status: r.Status}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(r.Body, &e) == nil {
		ge.Code, ge.Message = e.Error.Code, e.Error.Message
	}
	return ge
}

// postBatch sends one $batch envelope through the SDK's adapter (its
// authentication, compression and retry of a throttled envelope).
func (g *Graph) postBatch(ctx context.Context, payload []byte) ([]byte, error) {
	u, err := url.Parse(strings.TrimRight(g.adapter.GetBaseUrl(), "/") + "/$batch")
	if err != nil {
		return nil, err
	}
	info := abstractions.NewRequestInformation()
	info.Method = abstractions.POST
	info.SetUri(*u)
	info.Headers.TryAdd("Accept", "application/json")
	info.SetStreamContentAndContentType(payload, "application/json")
	// An envelope of 20 GETs is a couple of kilobytes: gzip (kiota's
	// default for request bodies) costs a 600 KB compressor per batch and
	// saves nothing worth it.
	info.AddRequestOptions([]abstractions.RequestOption{khttp.NewCompressionOptionsReference(false)})
	res, err := g.adapter.SendPrimitive(ctx, info, "[]byte", errorMapping())
	if err != nil {
		return nil, AsGraphError("POST", "/$batch", err)
	}
	body, _ := res.([]byte)
	return body, nil
}
