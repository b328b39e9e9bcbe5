package repair

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ReadBack is how long a read-back may wait for a write to show. Entra's
// directory replicates: a read right after a write can be served by a
// replica that has not seen it yet, so a first read that disagrees is read
// again with a doubling wait before the write is declared not to have taken.
type ReadBack struct {
	// Attempts is the number of reads in all; 0 means 6.
	Attempts int
	// First is the wait before the second read (0: 2 s); each later wait
	// doubles, up to Max (0: 30 s). The defaults wait about a minute in all.
	First, Max time.Duration
}

func (r ReadBack) attempts() int {
	if r.Attempts <= 0 {
		return 6
	}
	return r.Attempts
}

func (r ReadBack) delay(attempt int) time.Duration {
	d, max := r.First, r.Max
	if d <= 0 {
		d = 2 * time.Second
	}
	if max <= 0 {
		max = 30 * time.Second
	}
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// ErrReadBackMismatch is returned when the tenant still disagrees with a
// write after every read-back attempt. The flow's Result is Blocked and
// carries a Notice for the owner; a job that gets this error is parked, not
// retried: writing again would not explain why the first write did not take.
var ErrReadBackMismatch = errors.New("repair: read-back does not show the write")

// VerifyWrite reads back with read until it reports no mismatch ("") or the
// attempts run out, and returns the last mismatch. Each disagreeing attempt
// that is followed by another is journaled as step "read-back-attempt-N" of
// entry journalID (when j is set), so the journal shows the lag.
func VerifyWrite(ctx context.Context, policy ReadBack, j *Journal, journalID string, read func(context.Context) (mismatch string, err error)) (mismatch string, attempts int, err error) {
	n := policy.attempts()
	for attempt := 1; ; attempt++ {
		mismatch, err = read(ctx)
		if err != nil || mismatch == "" || attempt >= n {
			return mismatch, attempt, err
		}
		wait := policy.delay(attempt)
		if j != nil {
			detail := fmt.Sprintf("%s; reading again in %s (attempt %d of %d)", mismatch, wait, attempt, n)
			if _, err := j.step(ctx, journalID, fmt.Sprintf("read-back-attempt-%d", attempt), StepFailed, detail); err != nil {
				return mismatch, attempt, err
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return mismatch, attempt, ctx.Err()
		case <-t.C:
		}
	}
}
