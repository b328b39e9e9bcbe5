package notify_test

import (
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/notify"
)

const day = 24 * time.Hour

var due = time.Date(2026, 12, 24, 12, 0, 0, 0, time.UTC)

func TestStageFor(t *testing.T) {
	def := []int{60, 30, 14, 7, 3, 1}
	for _, tc := range []struct {
		name  string
		now   time.Time
		days  []int
		stage string
		ok    bool
	}{
		{"beyond the first threshold", due.Add(-60*day - time.Second), def, "", false},
		{"exactly 60 days before", due.Add(-60 * day), def, "d60", true},
		{"between 60 and 30", due.Add(-45 * day), def, "d60", true},
		{"one second before 30 days", due.Add(-30*day - time.Second), def, "d60", true},
		{"exactly 30 days before", due.Add(-30 * day), def, "d30", true},
		{"first seen 10 days before goes straight to d14", due.Add(-10 * day), def, "d14", true},
		{"exactly 7 days", due.Add(-7 * day), def, "d7", true},
		{"exactly 1 day", due.Add(-day), def, "d1", true},
		{"one nanosecond before due", due.Add(-1), def, "d1", true},
		{"at the due instant", due, def, "overdue-2026-12-24", true},
		{"later the same day", due.Add(11 * time.Hour), def, "overdue-2026-12-24", true},
		{"next UTC day", due.Add(12 * time.Hour), def, "overdue-2026-12-25", true},
		{"a week late", due.Add(7 * day), def, "overdue-2026-12-31", true},
		{"custom unsorted schedule", due.Add(-10 * day), []int{7, 30}, "d30", true},
		{"zero and negative thresholds ignored", due.Add(-day / 2), []int{0, -3, 2}, "d2", true},
		{"no schedule: nothing before due", due.Add(-day), nil, "", false},
		{"no schedule: overdue still daily", due.Add(day), nil, "overdue-2026-12-25", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stage, ok := notify.StageFor(due, tc.now, tc.days)
			if stage != tc.stage || ok != tc.ok {
				t.Fatalf("StageFor(due-%v) = %q, %v; want %q, %v", due.Sub(tc.now), stage, ok, tc.stage, tc.ok)
			}
		})
	}
}

func TestDue(t *testing.T) {
	d := due
	dated := assess.Finding{ID: "F-1", Severity: assess.Critical, Due: &d}
	days := []int{30, 7}
	now := due.Add(-10 * day)

	if got := notify.Due(ledger.Entry{}, dated, now, days); !got.Due || got.Stage != "d30" {
		t.Fatalf("dated finding: %+v", got)
	}
	if got := notify.Due(ledger.Entry{}, dated, due.Add(-40*day), days); got.Due || got.Reason != notify.ReasonNotDue {
		t.Fatalf("too early: %+v", got)
	}
	acked := ledger.Entry{Ack: &ledger.Ack{Until: now.Add(time.Hour)}}
	if got := notify.Due(acked, dated, now, days); got.Due || got.Reason != notify.ReasonAcked || got.Stage != "d30" {
		t.Fatalf("acked: %+v", got)
	}
	if got := notify.Due(acked, dated, now.Add(time.Hour), days); !got.Due {
		t.Fatalf("at the end of the acknowledgement: %+v", got)
	}
	undated := assess.Finding{ID: "F-2", Severity: assess.Warning}
	if got := notify.Due(ledger.Entry{}, undated, now, days); !got.Due || got.Stage != notify.StageOpen {
		t.Fatalf("undated warning: %+v", got)
	}
	undated.Severity = assess.Info
	if got := notify.Due(ledger.Entry{}, undated, now, days); got.Due {
		t.Fatalf("undated info: %+v", got)
	}
}

// The pause an acknowledgement link grants, and how long the link works:
// until the next stage (the next link), never past a due date still ahead.
func TestAckWindow(t *testing.T) {
	days := []int{60, 30, 14, 7, 3, 1}
	dueAt := func(d time.Time) assess.Finding { return assess.Finding{ID: "F-1", Due: &d} }
	at := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		f          assess.Finding
		until, exp time.Time
	}{
		// d30 stage (due in 20 days): a week's pause; next stage d14 is in 6 days.
		"d30": {dueAt(at.Add(20 * day)), at.Add(7 * day), at.Add(6 * day)},
		// d7 stage (due in 5 days): the pause ends at the due date; next stage d3 in 2 days.
		"d7": {dueAt(at.Add(5 * day)), at.Add(5 * day), at.Add(2 * day)},
		// d1 stage (due in 10 hours): both end at the due date.
		"d1": {dueAt(at.Add(10 * time.Hour)), at.Add(10 * time.Hour), at.Add(10 * time.Hour)},
		// Overdue: a week, the link for today only.
		"overdue": {dueAt(at.Add(-2 * day)), at.Add(7 * day), time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)},
		// Undated: a week, the link as long as the pause.
		"undated": {assess.Finding{ID: "F-2"}, at.Add(7 * day), at.Add(7 * day)},
	} {
		until, exp := notify.AckWindow(c.f, at, days)
		if !until.Equal(c.until) || !exp.Equal(c.exp) {
			t.Errorf("%s: until %v exp %v, want %v %v", name, until, exp, c.until, c.exp)
		}
	}
}
