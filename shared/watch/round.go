package watch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Checker checks endpoints: the network Prober, or Recorded (the results a
// snapshot holds).
type Checker interface {
	// CheckAll returns one result per endpoint, in order; a zero Result for
	// an endpoint it did not check.
	CheckAll(ctx context.Context, eps []Endpoint, concurrency int) []Result
}

// DefaultBudget bounds the checking of one round: well inside the default
// 10-minute schedule and the Functions host's 10-minute function timeout.
// Endpoints not started by then are checked next round.
const DefaultBudget = 8 * time.Minute

// Round is one pass of the watch: check every endpoint, append each result
// to its history, and read the histories back as statuses. The WatchTimer
// function and `idpkeeper watch` run it; neither scans the tenant.
type Round struct {
	Store   Store
	Checker Checker
	Rules   Rules
	// Concurrency bounds the checks and the history writes in flight.
	Concurrency int
	// Budget bounds the checking (0: DefaultBudget).
	Budget time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Outcome is what a round did.
type Outcome struct {
	At        time.Time
	Endpoints []Endpoint
	// Results are in the order of Endpoints; a zero Result was not checked
	// (the budget ran out).
	Results []Result
	// Statuses are by endpoint key, read after recording.
	Statuses map[string]Status
	// Unchecked counts endpoints left for the next round.
	Unchecked int
	// Problems are histories that could not be written or read, one line
	// each (the round goes on without them).
	Problems []string
}

func (r *Round) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Run checks and records eps. The error is non-nil only when no history
// could be written at all (the state store is unusable) or ctx ended.
func (r *Round) Run(ctx context.Context, eps []Endpoint) (Outcome, error) {
	conc := r.Concurrency
	if conc <= 0 {
		conc = 16
	}
	budget := r.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	checkCtx, cancel := context.WithTimeout(ctx, budget)
	results := r.Checker.CheckAll(checkCtx, eps, conc)
	cancel()
	out := Outcome{At: r.now(), Endpoints: eps, Results: results, Statuses: map[string]Status{}}
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("watch round stopped: %w", context.Cause(ctx))
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		written  int
		firstErr error
	)
	sem := make(chan struct{}, conc)
	for i := range eps {
		if results[i].State == "" {
			out.Unchecked++
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(ep Endpoint, res Result) {
			defer wg.Done()
			defer func() { <-sem }()
			var h *History
			var err error
			if res.State != "" {
				h, err = r.Store.Record(ctx, ep, res, r.Rules)
			}
			if h == nil && (err == nil || errors.Is(err, ErrUnreadable)) {
				h, _, err = r.Store.Load(ctx, ep.Key)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.Problems = append(out.Problems, ep.Key+" ("+ep.Display+"): "+err.Error())
				if firstErr == nil {
					firstErr = err
				}
			}
			if h != nil {
				written++
				out.Statuses[ep.Key] = StatusOf(h, out.At, r.Rules)
			}
		}(eps[i], results[i])
	}
	wg.Wait()
	if written == 0 && firstErr != nil {
		return out, fmt.Errorf("watch: no history could be kept: %w", firstErr)
	}
	return out, nil
}

// LoadStatuses reads the histories of eps as statuses at now (endpoints
// never checked are left out). A history that cannot be read is skipped
// and named in problems; only a store that fails for every endpoint is an
// error.
func LoadStatuses(ctx context.Context, store Store, eps []Endpoint, now time.Time, rules Rules, concurrency int) (map[string]Status, []string, error) {
	if concurrency <= 0 {
		concurrency = 16
	}
	out := map[string]Status{}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		problems []string
		failed   int
		firstErr error
	)
	sem := make(chan struct{}, concurrency)
	for _, ep := range eps {
		wg.Add(1)
		sem <- struct{}{}
		go func(ep Endpoint) {
			defer wg.Done()
			defer func() { <-sem }()
			h, _, err := store.Load(ctx, ep.Key)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				failed++
				problems = append(problems, ep.Key+" ("+ep.Display+"): "+err.Error())
				if firstErr == nil {
					firstErr = err
				}
			case h != nil:
				out[ep.Key] = StatusOf(h, now, rules)
			}
		}(ep)
	}
	wg.Wait()
	if failed > 0 && failed == len(eps) && !errors.Is(firstErr, ErrUnreadable) {
		return nil, problems, firstErr
	}
	return out, problems, nil
}

// Recorded is the Checker of a snapshot: instead of dialling, it answers
// each endpoint with the newest result its recorded history holds at the
// clock's time (the snapshot's capture time), so `watch --once --snapshot`
// and a Functions app on IDPKEEPER_SNAPSHOT run offline, through the same
// recording and planning as a live round. An endpoint without a recorded
// result is not checked.
type Recorded struct {
	// Seed is the snapshot's history (read only).
	Seed Store
	Now  func() time.Time
}

// CheckAll implements Checker.
func (rc Recorded) CheckAll(ctx context.Context, eps []Endpoint, _ int) []Result {
	now := time.Now().UTC()
	if rc.Now != nil {
		now = rc.Now().UTC()
	}
	out := make([]Result, len(eps))
	for i, ep := range eps {
		if ctx.Err() != nil {
			break
		}
		h, _, err := rc.Seed.Load(ctx, ep.Key)
		if err != nil || h == nil {
			continue
		}
		if r := h.At(now); r != nil {
			out[i] = *r
		}
	}
	return out
}
