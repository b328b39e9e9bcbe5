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
