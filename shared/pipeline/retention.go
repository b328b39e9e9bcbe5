package pipeline

import (
	"context"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// Retention says how long the state store keeps what would otherwise pile
// up for ever. The timer scan prunes by the documents' age (when they were
// last written, by the wall clock) once per run; the ledger, the journal of
// repairs, proposals, last good metadata and the latest report are kept
// whatever their age.
type Retention struct {
	// Parked jobs and rejected events (parked/…): long enough to be seen
	// in `jobs dead-letters` after a holiday, and to look back a quarter.
	Parked time.Duration
	// Notices kept as sent (outbox/<date>/…) and dated reports
	// (reports/YYYY/MM/DD/…): the record of what owners were asked and
	// when, for a year of audits and some margin.
	Notices time.Duration
	// LearnedSecrets: how long an entry a resolve-secret job added to the
	// secret index (a secret found to back nothing) is carried over from
	// scan to scan. After that its next event is looked up once more.
	LearnedSecrets time.Duration
	// WatchHistory: an endpoint's watch history (watch/endpoints/…) not
	// written for this long belongs to an endpoint no longer watched (a
	// watched one is written every round); its daily summaries, kept
	// watch.KeepDays, have all aged out by then.
	WatchHistory time.Duration
	// SweepMax bounds the documents one sweep deletes per folder (parked,
	// notices, reports, watch histories), the oldest first: a backlog (a retention
	// shortened, a flood of rejected events) is worked off over several
	// timer runs instead of one that outlasts the function timeout.
	SweepMax int
}

// DefaultRetention is the retention the Functions app and `run` use.
var DefaultRetention = Retention{
	Parked:         90 * 24 * time.Hour,
	Notices:        400 * 24 * time.Hour,
	LearnedSecrets: 30 * 24 * time.Hour,
	WatchHistory:   watch.KeepDays * 24 * time.Hour,
	SweepMax:       5000,
}

func (r Retention) withDefaults() Retention {
	if r.Parked <= 0 {
		r.Parked = DefaultRetention.Parked
	}
	if r.Notices <= 0 {
		r.Notices = DefaultRetention.Notices
	}
	if r.LearnedSecrets <= 0 {
		r.LearnedSecrets = DefaultRetention.LearnedSecrets
	}
	if r.WatchHistory <= 0 {
		r.WatchHistory = DefaultRetention.WatchHistory
	}
	if r.SweepMax <= 0 {
		r.SweepMax = DefaultRetention.SweepMax
	}
	return r
}

// Pruned counts what one prune deleted.
type Pruned struct {
	Parked, Notices, Reports, WatchHistories int
	// More: expired documents are left for the next sweep (SweepMax).
	More bool
}

// Prune deletes parked jobs, stored notices, dated reports and the watch
// histories of endpoints no longer watched, older than their retention. A store that cannot list is left alone (and said so).
func (p *Pipeline) Prune(ctx context.Context) (Pruned, error) {
	var out Pruned
	if p.State == nil {
		return out, nil
	}
	if _, err := statestore.AsLister(p.State); err != nil {
		return out, err
	}
	r := p.Retention.withDefaults()
	now := time.Now()
	sweep := func(n *int, prefix string, age time.Duration, keep func(statestore.Info) bool) error {
		var more bool
		var err error
		*n, more, err = statestore.PruneAtMost(ctx, p.State, prefix, now.Add(-age), keep, r.SweepMax)
		out.More = out.More || more
		return err
	}
	if err := sweep(&out.Parked, jobs.ParkedPrefix, r.Parked, nil); err != nil {
		return out, err
	}
	if err := sweep(&out.Notices, notify.StoreDir+"/", r.Notices, nil); err != nil {
		return out, err
	}
	keepLatest := func(in statestore.Info) bool { return in.Name == LatestReport || !strings.HasSuffix(in.Name, ".json") }
	if err := sweep(&out.Reports, "reports/", r.Notices, keepLatest); err != nil {
		return out, err
	}
	if err := sweep(&out.WatchHistories, watch.Prefix, r.WatchHistory, nil); err != nil {
		return out, err
	}
	return out, nil
}

// prune is Prune on the timer: a failure is logged, never fails the scan.
func (p *Pipeline) prune(ctx context.Context) {
	n, err := p.Prune(ctx)
	if err != nil {
		p.log().Warn("retention: state store not pruned", "error", err.Error())
		return
	}
	if n.Parked+n.Notices+n.Reports+n.WatchHistories > 0 {
		p.log().Info("retention: pruned the state store", "parked", n.Parked, "notices", n.Notices, "reports", n.Reports,
			"watchHistories", n.WatchHistories, "moreLeft", n.More)
	}
}
