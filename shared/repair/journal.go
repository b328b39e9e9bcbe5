package repair

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// Journal statuses.
const (
	StatusApplying = "applying" // created before the first write
	StatusApplied  = "applied"  // written; read-back pending or not verifiable
	StatusVerified = "verified" // written and confirmed by read-back
	StatusRejected = "rejected" // refused before any write (provider test)
	StatusFailed   = "failed"   // read-back disagreed with what was written
	StatusUndone   = "undone"
)

// Step outcomes.
const (
	StepOK      = "ok"
	StepSkipped = "skipped"
	StepFailed  = "failed"
)

// Entry is one journal document: what a plan changed, what it replaced, and
// how far it got. It holds no secret values.
type Entry struct {
	ID         string    `json:"id"`
	PlanID     string    `json:"planId"`
	Kind       string    `json:"kind"`
	Dependency string    `json:"dependency"`
	StartedAt  time.Time `json:"startedAt"`
	Steps      []Step    `json:"steps"`
	// Before are the previous non-secret values (what undo restores);
	// After what the read-back showed.
	Before   map[string]string `json:"before,omitempty"`
	After    map[string]string `json:"after,omitempty"`
	Verified bool              `json:"verified"`
	Status   string            `json:"status"`
	UndoneBy string            `json:"undoneBy,omitempty"`
	UndoneAt *time.Time        `json:"undoneAt,omitempty"`
	// Version counts writes of the document.
	Version int `json:"version"`
}

// Step is one effect of a plan. Steps are keyed by Name: recording a step
// again replaces it, so a re-run does not pile up duplicates.
type Step struct {
	Name    string    `json:"name"`
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`
}

// Step returns the step named name.
func (e *Entry) Step(name string) (Step, bool) {
	for _, s := range e.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return Step{}, false
}

// Done reports whether step name completed.
func (e *Entry) Done(name string) bool {
	s, ok := e.Step(name)
	return ok && s.Outcome == StepOK
}

// SetStep records s, replacing a step of the same name.
func (e *Entry) SetStep(s Step) {
	for i := range e.Steps {
		if e.Steps[i].Name == s.Name {
			e.Steps[i] = s
			return
		}
	}
	e.Steps = append(e.Steps, s)
}

// Journal keeps entries in a statestore with ETag concurrency.
type Journal struct {
	Store statestore.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAttempts bounds Update's retries on conflicts; 0 means 8.
	MaxAttempts int
}

var journalIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ErrInvalidID: a plan or journal ID that cannot be one (a typo, a path):
// a usage error, found before anything is read.
var ErrInvalidID = errors.New("repair: not a plan or journal ID")

// CheckID checks the shape of a plan or journal ID.
func CheckID(id string) error {
	if !journalIDPattern.MatchString(id) {
		return fmt.Errorf("%w: %q (letters, digits, '.', '_' and '-', at most 128)", ErrInvalidID, id)
	}
	return nil
}

// JournalDocument is where entry id is stored.
func JournalDocument(id string) string { return "journal/" + id + ".json" }

func (j *Journal) now() time.Time {
	if j.Now != nil {
		return j.Now().UTC()
	}
	return time.Now().UTC()
}

// Get returns entry id, or statestore.ErrNotFound.
func (j *Journal) Get(ctx context.Context, id string) (Entry, error) {
	e, _, err := j.read(ctx, id)
	return e, err
}

func (j *Journal) read(ctx context.Context, id string) (Entry, string, error) {
	if err := CheckID(id); err != nil {
		return Entry{}, "", err
	}
	data, etag, err := j.Store.Get(ctx, JournalDocument(id))
	if err != nil {
		return Entry{}, "", err
	}
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, "", fmt.Errorf("repair: %s is not a journal entry: %w", JournalDocument(id), err)
	}
	return e, etag, nil
}

// Update applies fn to entry id (a missing entry starts as Entry{ID: id},
// Version 0) and writes it if fn changed it, with If-Match / If-None-Match;
// on a conflict it reads again and re-runs fn, so fn must only derive the
// new state from the entry it gets.
func (j *Journal) Update(ctx context.Context, id string, fn func(*Entry) error) (Entry, error) {
	attempts := j.MaxAttempts
	if attempts <= 0 {
		attempts = 8
	}
	for range attempts {
		e, etag, err := j.read(ctx, id)
		cond := statestore.Condition{IfMatch: etag}
		switch {
		case errors.Is(err, statestore.ErrNotFound):
			e = Entry{ID: id}
			cond = statestore.Condition{IfNoneMatch: true}
		case err != nil:
			return Entry{}, err
		}
		before, _ := json.Marshal(e)
		if err := fn(&e); err != nil {
			return Entry{}, err
		}
		e.ID = id
		after, _ := json.Marshal(e)
		if bytes.Equal(before, after) {
			return e, nil
		}
		e.Version++
		data, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			return Entry{}, fmt.Errorf("repair: %w", err)
		}
		_, err = j.Store.Put(ctx, JournalDocument(id), data, cond)
		if errors.Is(err, statestore.ErrConflict) {
			continue
		}
		if err != nil {
			return Entry{}, err
		}
		return e, nil
	}
	return Entry{}, fmt.Errorf("repair: journal %s: too many concurrent updates", id)
}

// begin creates the entry for plan p, or returns the one a previous attempt
// created. Before is captured only on creation: on a re-run after a crash
// the tenant may already hold the new values, and undo must restore the
// values from before the first attempt.
func (j *Journal) begin(ctx context.Context, p Plan, before map[string]string) (Entry, error) {
	now := j.now()
	return j.Update(ctx, p.ID, func(e *Entry) error {
		if e.Version > 0 {
			return nil
		}
		e.PlanID, e.Kind, e.Dependency = p.ID, p.Kind, p.Dependency
		e.StartedAt = now
		e.Status = StatusApplying
		e.Before = before
		return nil
	})
}

// step records one step of entry id.
func (j *Journal) step(ctx context.Context, id, name, outcome, detail string) (Entry, error) {
	now := j.now()
	return j.Update(ctx, id, func(e *Entry) error {
		if s, ok := e.Step(name); ok && s.Outcome == outcome && s.Detail == detail {
			return nil // re-run: keep the first time it was recorded
		}
		e.SetStep(Step{Name: name, At: now, Outcome: outcome, Detail: detail})
		return nil
	})
}

// finish sets the final status, After and Verified.
func (j *Journal) finish(ctx context.Context, id, status string, verified bool, after map[string]string) (Entry, error) {
	return j.Update(ctx, id, func(e *Entry) error {
		e.Status, e.Verified = status, verified
		if after != nil {
			e.After = after
		}
		return nil
	})
}
