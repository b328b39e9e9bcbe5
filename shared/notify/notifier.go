package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
)

// Outcomes of Notify, overall and per channel.
const (
	StatusSent               = "sent"
	StatusFailed             = "failed"
	StatusNotDue             = "not-due"
	StatusSkippedAcked       = "skipped-acked"
	StatusSkippedAlreadySent = "skipped-already-sent"
	// StatusSkippedInFlight: another handler holds the claim and has not
	// reported back (it is sending now, or died; see ledger.ClaimNotice).
	StatusSkippedInFlight = "skipped-in-flight"
)

// Result says what Notify did.
type Result struct {
	FindingID string
	Stage     string
	// Status is the overall outcome: StatusSent when any channel sent,
	// else StatusFailed when any failed, else the common skip reason.
	Status   string
	Channels []ChannelResult
}

// ChannelResult is one channel's outcome.
type ChannelResult struct {
	Channel   string
	Status    string
	MessageID string
	Error     string
	// Resent: sent after taking over a claim whose lease lapsed; the
	// notice may have gone out before, under the same idempotency key.
	Resent bool
	// LeaseUntil, for StatusSkippedInFlight, is when the other claim
	// lapses: a look after it either finds the notice sent or takes the
	// claim over.
	LeaseUntil *time.Time
}

// Notifier sends the notice due for a finding on every channel, once.
type Notifier struct {
	Ledger   *ledger.Ledger
	Channels []Channel
	Config   *config.Config
	// Now is the clock; nil means time.Now.
	Now   func() time.Time
	Links Links
	// Logger gets a warning for every notice sent again after a lapsed
	// claim (nil: slog.Default).
	Logger *slog.Logger
}

// Notify observes f in the ledger, works out the stage due, and unless the
// finding is acknowledged claims, sends and records that stage on each
// channel. It is safe to call any number of times, concurrently, for the
// same finding (queue redelivery, two scans): each (stage, channel) is sent
// at most once. The error is non-nil when a channel failed or the ledger
// could not be written, so the job is retried; a retry sends only on the
// channels that have not sent the stage.
func (n *Notifier) Notify(ctx context.Context, f assess.Finding, claimer string) (Result, error) {
	res := Result{FindingID: f.ID}
	if n.Ledger == nil {
		return res, errors.New("notify: no ledger")
	}
	now := time.Now().UTC()
	if n.Now != nil {
		now = n.Now().UTC()
	}
	entry, err := n.Ledger.Observe(ctx, f)
	if err != nil {
		return res, fmt.Errorf("notify: %w", err)
	}
	days := config.DefaultEscalationDays()
	if n.Config != nil && len(n.Config.Defaults.EscalationDays) > 0 {
		days = n.Config.Defaults.EscalationDays
	}
	dec := Due(entry, f, now, days)
	res.Stage = dec.Stage
	if !dec.Due {
		res.Status = StatusNotDue
		if dec.Reason == ReasonAcked {
			res.Status = StatusSkippedAcked
		}
		return res, nil
	}
	if len(n.Channels) == 0 {
		return res, errors.New("notify: no notification channel")
	}
	return n.send(ctx, f, dec.Stage, claimer, res)
}

// Tell sends f's notice for an event outside the escalation schedule — a
// repair done, a proposal waiting for approval — under stage, once per stage
// and channel like any other notice, and regardless of acknowledgements
// (they pause reminders, not news).
func (n *Notifier) Tell(ctx context.Context, f assess.Finding, stage, claimer string) (Result, error) {
	res := Result{FindingID: f.ID, Stage: stage}
	if n.Ledger == nil {
		return res, errors.New("notify: no ledger")
	}
	if _, err := n.Ledger.Observe(ctx, f); err != nil {
		return res, fmt.Errorf("notify: %w", err)
	}
	if len(n.Channels) == 0 {
		return res, errors.New("notify: no notification channel")
	}
	return n.send(ctx, f, stage, claimer, res)
}

func (n *Notifier) send(ctx context.Context, f assess.Finding, stage, claimer string, res Result) (Result, error) {
	msg := Compose(f, stage, n.Config, n.Links)
	var errs []error
	for _, ch := range n.Channels {
		cr, err := n.sendOne(ctx, ch, msg, claimer)
		if cr.Status == StatusFailed {
			errs = append(errs, err)
		}
		res.Channels = append(res.Channels, cr)
	}
	res.Status = overall(res.Channels)
	if len(errs) > 0 {
		return res, newNoticeError(fmt.Sprintf("notify %s %s", f.ID, stage), errs)
	}
	return res, nil
}

// sendOne claims, sends and records one channel. The error (nil unless
// cr.Status is StatusFailed) keeps the channel's error, so a permanent cause
// stays recognisable.
func (n *Notifier) sendOne(ctx context.Context, ch Channel, msg Message, claimer string) (ChannelResult, error) {
	cr := ChannelResult{Channel: ch.Name()}
	recipient := msg.Recipients()
	if ch.Name() == "webhook" {
		recipient = "webhook"
	}
	claim, err := n.Ledger.Claim(ctx, msg.FindingID, msg.Stage, ch.Name(), recipient, claimer)
	if err != nil {
		cr.Status, cr.Error = StatusFailed, "ledger: "+err.Error()
		return cr, fmt.Errorf("%s: ledger: %w", cr.Channel, err)
	}
	if !claim.Won {
		holder := claim.Holder
		cr.MessageID = holder.MessageID
		cr.Status = StatusSkippedInFlight
		cr.LeaseUntil = holder.LeaseUntil
		if holder.Status == ledger.StatusSent {
			cr.Status, cr.LeaseUntil = StatusSkippedAlreadySent, nil
		}
		return cr, nil
	}
	if claim.Takeover {
		cr.Resent = true
		prev := claim.Previous
		n.log().Warn("notice claim lapsed: sending again under the same idempotency key (it may have gone out already)",
			"finding", msg.FindingID, "stage", msg.Stage, "channel", ch.Name(), "idempotencyKey", IdempotencyKey(msg),
			"claimedBy", prev.ClaimedBy, "claimedAt", prev.At.Format(time.RFC3339), "attempt", prev.Attempts+1)
	}
	id, sendErr := ch.Send(ctx, msg)
	// The outcome is recorded even when ctx ended meanwhile (the function
	// host's timeout): a notice that went out must be marked sent.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if sendErr != nil {
		cr.Status, cr.Error = StatusFailed, sendErr.Error()
		if _, err := n.Ledger.MarkNoticeFailed(mctx, msg.FindingID, msg.Stage, ch.Name(), claimer, sendErr); err != nil {
			// The claim stays until its lease lapses (see
			// ledger.ClaimNotice). A retry is needed to learn more, so
			// this is not permanent.
			cr.Error += "; and the ledger: " + err.Error()
			return cr, fmt.Errorf("%s: %s", cr.Channel, cr.Error)
		}
		return cr, fmt.Errorf("%s: %w", cr.Channel, sendErr)
	}
	cr.Status, cr.MessageID = StatusSent, id
	if _, err := n.Ledger.MarkNoticeSent(mctx, msg.FindingID, msg.Stage, ch.Name(), id); err != nil {
		// Sent but not recorded: the claim stays and blocks a resend for
		// its lease; after that the stage is sent again under the same
		// idempotency key (the documented duplicate). Report it so the job
		// is looked at.
		cr.Status, cr.Error = StatusFailed, "sent, but the ledger was not updated: "+err.Error()
		return cr, fmt.Errorf("%s: %s", cr.Channel, cr.Error)
	}
	return cr, nil
}

func (n *Notifier) log() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.Default()
}

// InFlightUntil is the latest lease end among the channels another handler
// holds (nil when none is in flight): when to look again.
func (r Result) InFlightUntil() *time.Time {
	var last *time.Time
	for _, c := range r.Channels {
		if c.Status == StatusSkippedInFlight && c.LeaseUntil != nil && (last == nil || c.LeaseUntil.After(*last)) {
			last = c.LeaseUntil
		}
	}
	return last
}

func overall(cs []ChannelResult) string {
	has := func(s string) bool {
		for _, c := range cs {
			if c.Status == s {
				return true
			}
		}
		return false
	}
	switch {
	case has(StatusSent):
		return StatusSent
	case has(StatusFailed):
		return StatusFailed
	case has(StatusSkippedInFlight):
		return StatusSkippedInFlight
	}
	return StatusSkippedAlreadySent
}
