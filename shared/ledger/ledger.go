// Package ledger remembers, per finding, what IdP Keeper has seen and done:
// when the finding was first seen and last checked, which notice stages went
// out on which channel, acknowledgements, the last good partner metadata and
// the outcomes of the jobs that touched it.
//
// There is one JSON document per finding, "ledger/<findingID>.json", in a
// statestore.Store (Azure Blob Storage in production, a folder locally).
// Every change is read → modify → conditional write (If-None-Match: * for a
// new document, If-Match: <etag> otherwise), retried on conflict, so two
// handlers working on the same finding at once — in one process or in many,
// on Blob or on a folder (statestore.Dir locks across processes) — can
// neither lose each other's update nor both send the same notice (see
// ClaimNotice).
//
// An entry that is not JSON of this shape is not dropped or overwritten: the
// read fails with a *CorruptError naming the document, which is permanent
// (the job is parked with it) until someone repairs or deletes it.
//
// The ledger never holds message bodies, finding details or anything else
// that could carry a secret value: only identifiers, dates, states and
// short error texts that the channels have already scrubbed.
package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// Notice states.
const (
	// StatusClaimed: a handler won the right to send this (stage, channel)
	// and has not reported back yet.
	StatusClaimed = "claimed"
	// StatusSent: the channel accepted the notice.
	StatusSent = "sent"
	// StatusFailed: the channel refused it; the stage may be claimed again.
	StatusFailed = "failed"
)

// DefaultNoticeLease is how long a claim holds: far longer than a send
// takes (a webhook times out after 30 s, the ledger write after 30 s more),
// and shorter than the daily scan, which re-queues every notice still due
// and so recovers a claim whose holder died. See ClaimNotice.
const DefaultNoticeLease = 15 * time.Minute

// MaxJobs is how many job outcomes an entry keeps (the newest).
const MaxJobs = 50

// DefaultMaxAttempts bounds Update's read-modify-write retries.
const DefaultMaxAttempts = 10

// maxErrorLen caps stored error texts: the ledger is a state record, not a log.
const maxErrorLen = 300

// ErrUnknownFinding is returned by Acknowledge for a finding the ledger has
// never seen (a mistyped ID would otherwise create a stray document).
var ErrUnknownFinding = errors.New("ledger: unknown finding")

// ErrTooManyConflicts is returned by Update when every attempt lost a race.
var ErrTooManyConflicts = errors.New("ledger: too many concurrent updates, giving up")

// Entry is the ledger document of one finding.
type Entry struct {
	FindingID string `json:"findingId"`
	Kind      string `json:"kind,omitempty"`
	// Dependency is the finding's dependency reference ("social/Google-OAUTH").
	Dependency string          `json:"dependency,omitempty"`
	Severity   assess.Severity `json:"severity"`
	Due        *time.Time      `json:"due,omitempty"`
	FirstSeen  time.Time       `json:"firstSeen"`
	// LastChecked is the last time a scan or job observed the finding.
	LastChecked time.Time `json:"lastChecked"`
	// StageReached is the latest notice stage sent on any channel.
	StageReached string   `json:"stageReached,omitempty"`
	Notices      []Notice `json:"notices,omitempty"`
	Ack          *Ack     `json:"ack,omitempty"`
	// LastGoodMetadata references the last partner metadata that verified,
	// "metadata/<partner>.json@<sha256>"; never the document itself.
	LastGoodMetadata string       `json:"lastGoodMetadata,omitempty"`
	Jobs             []JobOutcome `json:"jobs,omitempty"`
	// Version counts writes. Besides telling operators how busy a document
	// is, it makes every written document differ from every earlier one, so
	// content-hash ETags (statestore.Dir) cannot repeat (no ABA).
	Version int `json:"version"`
}

// Notice is one (stage, channel) notice and where it got to.
type Notice struct {
	Stage   string `json:"stage"`
	Channel string `json:"channel"`
	// Recipient is who it was addressed to (mail addresses, "webhook").
	Recipient string `json:"recipient,omitempty"`
	// MessageID is the channel's identifier for what was sent.
	MessageID string `json:"messageId,omitempty"`
	Status    string `json:"status"`
	ClaimedBy string `json:"claimedBy,omitempty"`
	// At is when Status was last set.
	At time.Time `json:"at"`
	// Attempts counts claims (a failed notice can be claimed again).
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
	// LeaseUntil is when a claim lapses (wall clock; set while Status is
	// claimed): a claim still unsettled after it is presumed dead and may
	// be taken over.
	LeaseUntil *time.Time `json:"leaseUntil,omitempty"`
	// Takeovers counts claims taken over after their lease lapsed: each is
	// a send that may repeat one that went out (see ClaimNotice).
	Takeovers int `json:"takeovers,omitempty"`
	// TakenOverAt is when the last takeover happened (wall clock).
	TakenOverAt *time.Time `json:"takenOverAt,omitempty"`
}

// leaseLapsed reports whether a claimed notice's lease ended before now.
// A claim written before leases existed has no LeaseUntil: its At plus the
// default lease stands in.
func (n Notice) leaseLapsed(now time.Time) bool {
	if n.Status != StatusClaimed {
		return false
	}
	until := n.At.Add(DefaultNoticeLease)
	if n.LeaseUntil != nil {
		until = *n.LeaseUntil
	}
	return now.After(until)
}

// Ack pauses reminders for a finding until Until.
type Ack struct {
	Until time.Time `json:"until"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
	Note  string    `json:"note,omitempty"`
}

// JobOutcome is what one job (one queue message) did to the finding.
type JobOutcome struct {
	MessageID string    `json:"messageId"`
	Kind      string    `json:"kind"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
}

// Notice returns the notice for (stage, channel), if any.
func (e *Entry) Notice(stage, channel string) (Notice, bool) {
	for _, n := range e.Notices {
		if n.Stage == stage && n.Channel == channel {
			return n, true
		}
	}
	return Notice{}, false
}

// StaleClaims lists the notices still "claimed" whose lease lapsed before
// now (wall clock): the handler that claimed them most likely died between
// claiming and reporting back, so the notice was probably never sent. The
// next claim of the stage takes them over and sends again (see
// ClaimNotice); until then `jobs dead-letters` lists them.
func (e *Entry) StaleClaims(now time.Time) []Notice {
	var out []Notice
	for _, n := range e.Notices {
		if n.leaseLapsed(now) {
			out = append(out, n)
		}
	}
	return out
}

// Ledger reads and writes entries in a Store.
type Ledger struct {
	Store statestore.Store
	// Now is the clock of the findings (a snapshot's capture time in a
	// local run); nil means time.Now.
	Now func() time.Time
	// Wall is the clock of claim leases, which measure real elapsed time
	// whatever Now says; nil means time.Now.
	Wall func() time.Time
	// Lease is how long a notice claim holds; 0 means DefaultNoticeLease.
	Lease time.Duration
	// MaxAttempts bounds Update's retries; 0 means DefaultMaxAttempts.
	MaxAttempts int
}

func (l *Ledger) now() time.Time {
	if l.Now != nil {
		return l.Now().UTC()
	}
	return time.Now().UTC()
}

func (l *Ledger) wall() time.Time {
	if l.Wall != nil {
		return l.Wall().UTC()
	}
	return time.Now().UTC()
}

func (l *Ledger) lease() time.Duration {
	if l.Lease > 0 {
		return l.Lease
	}
	return DefaultNoticeLease
}

// CorruptError is a ledger document that cannot be read as an entry. It is
// permanent (jobs.PermanentError): retrying reads the same bytes, so the job
// is parked with the document's name, and the document is left as it is for
// someone to look at — never dropped or overwritten.
type CorruptError struct {
	// Document is the name in the store ("ledger/F-….json"); Store
	// describes the store.
	Document, Store string
	Err             error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("ledger: %s in %s is not a ledger entry (%v): repair it, or delete it to start the finding's record afresh", e.Document, e.Store, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Permanent implements jobs.PermanentError.
func (e *CorruptError) Permanent() bool { return true }

// findingIDPattern keeps IDs usable as blob and file names and out of other
// folders ("../x").
var findingIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// DocumentName is where the entry of findingID is stored.
func DocumentName(findingID string) string { return "ledger/" + findingID + ".json" }

// CheckID checks the shape of a finding ID (F-… as scans make them).
func CheckID(findingID string) error { return checkID(findingID) }

func checkID(findingID string) error {
	if !findingIDPattern.MatchString(findingID) {
		return fmt.Errorf("ledger: invalid finding ID %q", findingID)
	}
	return nil
}

// Get returns the entry of findingID, or statestore.ErrNotFound.
func (l *Ledger) Get(ctx context.Context, findingID string) (Entry, error) {
	if err := checkID(findingID); err != nil {
		return Entry{}, err
	}
	e, _, err := l.read(ctx, findingID)
	return e, err
}

func (l *Ledger) read(ctx context.Context, findingID string) (Entry, string, error) {
	data, etag, err := l.Store.Get(ctx, DocumentName(findingID))
	if err != nil {
		return Entry{}, "", err
	}
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, "", &CorruptError{Document: DocumentName(findingID), Store: l.Store.Describe(), Err: err}
	}
	if e.FindingID != "" && e.FindingID != findingID {
		return Entry{}, "", &CorruptError{Document: DocumentName(findingID), Store: l.Store.Describe(),
			Err: fmt.Errorf("it holds finding %q", e.FindingID)}
	}
	return e, etag, nil
}

// Update applies fn to the entry of findingID and writes it back if fn
// changed it. A missing entry starts as Entry{FindingID: findingID} with
// Version 0 (fn can tell a new entry by that). When another writer got in
// between, the entry is read again and fn runs again, up to MaxAttempts
// times with a jittered backoff; fn must therefore only compute the new
// state from the entry it is given (no side effects, no counters outside
// it). An error from fn aborts without writing and is returned as is.
//
// An fn that changes nothing writes nothing, so replaying a job leaves the
// document (and its Version) exactly as it was.
func (l *Ledger) Update(ctx context.Context, findingID string, fn func(*Entry) error) (Entry, error) {
	if err := checkID(findingID); err != nil {
		return Entry{}, err
	}
	attempts := l.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return Entry{}, err
			}
		}
		e, etag, err := l.read(ctx, findingID)
		cond := statestore.Condition{IfMatch: etag}
		switch {
		case errors.Is(err, statestore.ErrNotFound):
			e = Entry{FindingID: findingID}
			cond = statestore.Condition{IfNoneMatch: true}
		case err != nil:
			return Entry{}, err
		}
		before, err := json.Marshal(e)
		if err != nil {
			return Entry{}, fmt.Errorf("ledger: %w", err)
		}
		if err := fn(&e); err != nil {
			return Entry{}, err
		}
		e.FindingID = findingID
		after, err := json.Marshal(e)
		if err != nil {
			return Entry{}, fmt.Errorf("ledger: %w", err)
		}
		if bytes.Equal(before, after) {
			return e, nil
		}
		// Every entry says when it was first written, whichever change
		// created it (a job outcome, a claim), not 0001-01-01.
		if e.FirstSeen.IsZero() {
			e.FirstSeen = l.now()
		}
		if e.LastChecked.IsZero() {
			e.LastChecked = e.FirstSeen
		}
		e.Version++
		data, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			return Entry{}, fmt.Errorf("ledger: %w", err)
		}
		_, err = l.Store.Put(ctx, DocumentName(findingID), data, cond)
		if errors.Is(err, statestore.ErrConflict) {
			continue
		}
		if err != nil {
			return Entry{}, err
		}
		return e, nil
	}
	return Entry{}, fmt.Errorf("%w (finding %s, %d attempts)", ErrTooManyConflicts, findingID, attempts)
}

// backoff sleeps a random time up to 10 ms·2^attempt (capped at 500 ms):
// "full jitter" spreads writers that collided so they do not collide again.
func backoff(ctx context.Context, attempt int) error {
	ceiling := 10 * time.Millisecond << min(attempt, 6)
	ceiling = min(ceiling, 500*time.Millisecond)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Observe records that f was seen now: the first time it sets FirstSeen,
// every time it refreshes LastChecked, kind, dependency, severity and due
// date. Nothing from f.Detail is stored.
func (l *Ledger) Observe(ctx context.Context, f assess.Finding) (Entry, error) {
	now := l.now()
	return l.Update(ctx, f.ID, func(e *Entry) error {
		if e.FirstSeen.IsZero() {
			e.FirstSeen = now
		}
		if now.After(e.LastChecked) {
			e.LastChecked = now
		}
		e.Kind = f.Kind
		e.Dependency = f.Dependency.Ref
		e.Severity = f.Severity
		if f.Due != nil {
			d := f.Due.UTC()
			e.Due = &d
		} else {
			e.Due = nil
		}
		return nil
	})
}

// RecordJob adds a job outcome, idempotently by MessageID: a redelivered
// message updates its earlier outcome in place instead of adding a second
// one (and changes nothing when the outcome is the same). Only the newest
// MaxJobs outcomes are kept, so a message redelivered after MaxJobs newer
// jobs would be recorded again; queue redelivery happens within minutes,
// long before that.
func (l *Ledger) RecordJob(ctx context.Context, findingID string, j JobOutcome) (Entry, error) {
	if j.MessageID == "" {
		return Entry{}, errors.New("ledger: job outcome without a message ID")
	}
	if j.At.IsZero() {
		j.At = l.now()
	}
	j.Reason = truncate(j.Reason)
	return l.Update(ctx, findingID, func(e *Entry) error {
		for i, old := range e.Jobs {
			if old.MessageID == j.MessageID {
				if old.Kind != j.Kind || old.Outcome != j.Outcome || old.Reason != j.Reason {
					e.Jobs[i] = j
				}
				return nil
			}
		}
		e.Jobs = append(e.Jobs, j)
		if over := len(e.Jobs) - MaxJobs; over > 0 {
			e.Jobs = append([]JobOutcome(nil), e.Jobs[over:]...)
		}
		return nil
	})
}

// Acknowledge pauses reminders for findingID until until. by is who
// acknowledged (a mail address, "link", "cli:<user>"); note is theirs.
func (l *Ledger) Acknowledge(ctx context.Context, findingID string, until time.Time, by, note string) (Entry, error) {
	now := l.now()
	if !until.After(now) {
		return Entry{}, fmt.Errorf("ledger: acknowledgement until %s is not in the future", until.UTC().Format(time.RFC3339))
	}
	if by == "" {
		return Entry{}, errors.New("ledger: acknowledgement without who acknowledged")
	}
	return l.Update(ctx, findingID, func(e *Entry) error {
		if e.Version == 0 {
			return fmt.Errorf("%w: %s", ErrUnknownFinding, findingID)
		}
		e.Ack = &Ack{Until: until.UTC(), By: by, At: now, Note: truncate(note)}
		return nil
	})
}

// SetLastGoodMetadata records the reference of the last partner metadata
// that verified ("metadata/<partner>.json@<sha256>").
func (l *Ledger) SetLastGoodMetadata(ctx context.Context, findingID, ref string) (Entry, error) {
	return l.Update(ctx, findingID, func(e *Entry) error {
		e.LastGoodMetadata = ref
		return nil
	})
}

// ClaimNotice claims the right to send the notice of stage on channel for
// findingID. Exactly one of any number of concurrent claimers gets true;
// the conditional write decides. A (stage, channel) that was already sent,
// or is claimed and its lease holds, is not claimed again: one notice per
// stage per finding. A failed notice (MarkNoticeFailed) can be claimed
// again, and so can a claim whose lease lapsed.
//
// # Crash window: a claim is a lease
//
// Claim, send and MarkNoticeSent are three steps. A handler that dies after
// claiming and before marking leaves the notice "claimed". Its claim holds
// for the ledger's Lease (DefaultNoticeLease, wall clock), far longer than
// any send; after that the claim is presumed dead, and the next claimer of
// the stage — the job's redelivery, the follow-up the NotifyOwner handler
// schedules when it finds a claim in flight, or at the latest the next
// scan, which queues every notice still due — takes it over and sends
// again. The takeover is counted on the notice (Takeovers, TakenOverAt),
// logged as a warning by the notifier, and listed by `jobs dead-letters`.
//
// This is the choice of a rare duplicate over a lost notice. A notice that
// never arrives can mean a partner's certificate expires unannounced and
// sign-in breaks; a notice that arrives twice is an annoyance. A duplicate
// needs the handler to die (or stall for longer than the lease) after the
// channel accepted the notice and before the ledger recorded it — a window
// of one HTTP round trip. Even then the repeat carries the same idempotency
// key as the first send (webhook: the Idempotency-Key header and the
// idempotencyKey field; mail: the same Message-ID), so a receiver that
// keeps keys, and mail systems that fold messages with one Message-ID,
// drop it.
func (l *Ledger) ClaimNotice(ctx context.Context, findingID, stage, channel, claimer string) (bool, error) {
	c, err := l.Claim(ctx, findingID, stage, channel, "", claimer)
	return c.Won, err
}

// ClaimNoticeFor is ClaimNotice that also records the recipient and, when
// the claim is lost, returns the notice that holds the stage (sent or
// claimed by someone else).
func (l *Ledger) ClaimNoticeFor(ctx context.Context, findingID, stage, channel, recipient, claimer string) (claimed bool, holder Notice, err error) {
	c, err := l.Claim(ctx, findingID, stage, channel, recipient, claimer)
	return c.Won, c.Holder, err
}

// Claim is what a claim attempt came to.
type Claim struct {
	// Won: this claimer may send.
	Won bool
	// Holder is the notice that holds the stage when the claim was lost
	// (sent, or claimed and its lease holds).
	Holder Notice
	// Takeover: won by taking over a claim whose lease lapsed; Previous is
	// that claim. The notice may have gone out already: send it with the
	// same idempotency key.
	Takeover bool
	Previous Notice
}

// Claim claims (stage, channel) of findingID for claimer: see ClaimNotice.
func (l *Ledger) Claim(ctx context.Context, findingID, stage, channel, recipient, claimer string) (Claim, error) {
	if stage == "" || channel == "" || claimer == "" {
		return Claim{}, errors.New("ledger: claim needs a stage, a channel and a claimer")
	}
	now, wall := l.now(), l.wall()
	leaseUntil := wall.Add(l.lease())
	var c Claim
	_, err := l.Update(ctx, findingID, func(e *Entry) error {
		// Reset on every run: fn may run several times, the last decides.
		c = Claim{}
		for i := range e.Notices {
			n := &e.Notices[i]
			if n.Stage != stage || n.Channel != channel {
				continue
			}
			switch {
			case n.Status == StatusFailed:
			case n.leaseLapsed(wall):
				c.Takeover, c.Previous = true, *n
				n.Takeovers++
				n.TakenOverAt = &wall
			default:
				c.Holder = *n
				return nil
			}
			n.Status, n.ClaimedBy, n.At, n.Error = StatusClaimed, claimer, now, ""
			n.LeaseUntil = &leaseUntil
			n.Recipient = recipient
			n.Attempts++
			c.Won = true
			return nil
		}
		e.Notices = append(e.Notices, Notice{
			Stage: stage, Channel: channel, Recipient: recipient,
			Status: StatusClaimed, ClaimedBy: claimer, At: now, Attempts: 1, LeaseUntil: &leaseUntil,
		})
		c.Won = true
		return nil
	})
	if err != nil {
		return Claim{}, err
	}
	return c, nil
}

// MarkNoticeSent records that the claimed notice was accepted by its
// channel under messageID. A notice that went out is sent, whoever holds
// the claim now.
func (l *Ledger) MarkNoticeSent(ctx context.Context, findingID, stage, channel, messageID string) (Entry, error) {
	now := l.now()
	return l.Update(ctx, findingID, func(e *Entry) error {
		n := e.notice(stage, channel)
		if n == nil {
			return fmt.Errorf("ledger: %s: no claim for stage %s on %s", findingID, stage, channel)
		}
		n.Status, n.MessageID, n.At, n.Error, n.LeaseUntil = StatusSent, messageID, now, "", nil
		e.StageReached = stage
		return nil
	})
}

// MarkNoticeFailed records that the channel refused the notice claimer
// claimed; the stage can then be claimed again (the job is retried, or the
// next run tries). sendErr's text is stored shortened; channels keep URLs
// and secrets out of their errors. A failure reported by a claimer whose
// claim was taken over meanwhile changes nothing: the new holder's outcome
// decides. An empty claimer speaks for whoever holds the claim (an operator
// re-arming a stage by hand).
func (l *Ledger) MarkNoticeFailed(ctx context.Context, findingID, stage, channel, claimer string, sendErr error) (Entry, error) {
	now := l.now()
	msg := "unknown error"
	if sendErr != nil {
		msg = truncate(sendErr.Error())
	}
	return l.Update(ctx, findingID, func(e *Entry) error {
		n := e.notice(stage, channel)
		if n == nil {
			return fmt.Errorf("ledger: %s: no claim for stage %s on %s", findingID, stage, channel)
		}
		if n.Status == StatusSent || (n.Status == StatusClaimed && claimer != "" && n.ClaimedBy != claimer) {
			// A late failure report must not un-send a notice, nor free
			// a stage another handler is sending now.
			return nil
		}
		n.Status, n.At, n.Error, n.LeaseUntil = StatusFailed, now, msg, nil
		return nil
	})
}

func (e *Entry) notice(stage, channel string) *Notice {
	for i := range e.Notices {
		if e.Notices[i].Stage == stage && e.Notices[i].Channel == channel {
			return &e.Notices[i]
		}
	}
	return nil
}

func truncate(s string) string {
	r := []rune(s)
	if len(r) > maxErrorLen {
		return string(r[:maxErrorLen]) + "…"
	}
	return s
}
