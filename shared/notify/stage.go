// Package notify tells the owner of a finding, inside the organisation or
// at a partner, what to do and by when: it picks the escalation stage that
// is due, composes the notice (the concrete ask, the deadline, the impact,
// never a secret value) and sends it on each configured channel (Graph
// sendMail, a webhook, an outbox folder), at most once per stage per
// channel, using the ledger's claim protocol so that replayed or concurrent
// jobs cannot send a notice twice.
package notify

import (
	"fmt"
	"slices"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
)

// StageOpen is the single stage of a finding without a due date (an
// untracked secret, disabled email OTP): it is notified once.
const StageOpen = "open"

// overduePrefix starts the daily stages after the due date.
const overduePrefix = "overdue-"

const day = 24 * time.Hour

// StageFor returns the escalation stage due at now for something due at
// due: "d<N>" for the smallest threshold N (days, in 24-hour steps, exactly
// N days before due included) that now has reached, so a finding first seen
// 10 days before due goes straight to "d14" and never gets the earlier
// stages; "overdue-YYYY-MM-DD" (UTC date of now) from the due instant on,
// one new stage a day while the problem lasts. ok is false while due is
// further away than the largest threshold.
func StageFor(due, now time.Time, escalationDays []int) (stage string, ok bool) {
	if !now.Before(due) {
		return overduePrefix + now.UTC().Format("2006-01-02"), true
	}
	left := due.Sub(now)
	days := slices.Clone(escalationDays)
	slices.Sort(days) // smallest first: the first reached is the most urgent
	for _, d := range days {
		if d > 0 && left <= time.Duration(d)*day {
			return fmt.Sprintf("d%d", d), true
		}
	}
	return "", false
}

// Decision is whether a notice is due for a finding now.
type Decision struct {
	// Stage is the stage due ("" when none).
	Stage string
	// Due is true when a notice for Stage should go out (unless each
	// channel already has it: that is the ledger's claim to decide).
	Due bool
	// Reason says why not: ReasonNotDue or ReasonAcked.
	Reason string
}

// Reasons a Decision is not due.
const (
	ReasonNotDue = "not-due"
	ReasonAcked  = "acked"
)

// Due decides whether a notice is due for f at now given its ledger entry:
// the stage from StageFor (StageOpen once for an undated finding of warning
// severity or above; undated info findings are for the report only), and
// nothing while an acknowledgement runs (now before Ack.Until). After the
// acknowledgement ends, the stage due then is sent; stages that fell inside
// the pause are not sent after the fact.
func Due(e ledger.Entry, f assess.Finding, now time.Time, escalationDays []int) Decision {
	var stage string
	if f.Due == nil {
		if f.Severity < assess.Warning {
			return Decision{Reason: ReasonNotDue}
		}
		stage = StageOpen
	} else {
		s, ok := StageFor(*f.Due, now, escalationDays)
		if !ok {
			return Decision{Reason: ReasonNotDue}
		}
		stage = s
	}
	if e.Ack != nil && now.Before(e.Ack.Until) {
		return Decision{Stage: stage, Reason: ReasonAcked}
	}
	return Decision{Stage: stage, Due: true}
}

// AckPause is how long an acknowledgement link pauses reminders: a week,
// as the command line's default.
const AckPause = 7 * day

// AckWindow is what the acknowledgement link of a notice of f at now grants
// and how long it works. The pause (until) lasts AckPause but never past
// the due date still ahead — acknowledging pauses the reminders, it does
// not silence the day sign-in breaks. The link expires with its notice
// stage (exp): when the next stage is due (the next threshold, the due
// date, or for an overdue finding the next UTC day), and at the latest when
// the pause ends; an undated finding's link works for 30 days. A later
// notice carries a new link.
func AckWindow(f assess.Finding, now time.Time, escalationDays []int) (until, exp time.Time) {
	now = now.UTC()
	until = now.Add(AckPause)
	if f.Due == nil {
		return until, minTime(now.Add(30*day), until)
	}
	due := f.Due.UTC()
	if due.After(now) && due.Before(until) {
		until = due
	}
	if !now.Before(due) {
		y, m, d := now.Date()
		return until, minTime(time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC), until)
	}
	exp = due
	for _, n := range escalationDays {
		if t := due.Add(-time.Duration(n) * day); n > 0 && t.After(now) && t.Before(exp) {
			exp = t
		}
	}
	return until, minTime(exp, until)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
