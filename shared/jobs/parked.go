package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// Parked is a job the Functions handler gave up on because of a permanent
// error: the message was completed (HTTP 200) and this record is what is
// left of it.
type Parked struct {
	MessageID string    `json:"messageId"`
	Queue     string    `json:"queue"`
	Reason    string    `json:"reason"`
	Body      string    `json:"body,omitempty"`
	At        time.Time `json:"at"`
}

// ParkedIndex is the state store document listing parked jobs (the store
// cannot list documents).
const ParkedIndex = "parked/index.json"

// ParkedDocument is the state store document holding one parked job:
// parked/<messageID>.json. A message ID from a foreign sender with
// characters outside [A-Za-z0-9._-] (or longer than 100) is sanitised and
// given a hash suffix, so it can neither leave the folder nor collide.
func ParkedDocument(messageID string) string {
	name := sanitize(messageID, 100)
	if name != messageID || name == "" {
		sum := sha256.Sum256([]byte(messageID))
		name += "-" + hex.EncodeToString(sum[:6])
	}
	return "parked/" + name + ".json"
}

type parkedIndex struct {
	Version int           `json:"version"`
	Entries []parkedEntry `json:"entries"`
}

type parkedEntry struct {
	MessageID string    `json:"messageId"`
	Queue     string    `json:"queue"`
	Reason    string    `json:"reason"` // clipped; the document has it whole
	At        time.Time `json:"at"`
	Document  string    `json:"document"`
}

// parkRetries bounds the optimistic-concurrency loop on the index. Each
// round trip is one Get and one Put; losing 50 races in a row means
// something else is wrong.
const parkRetries = 50

// Park records p: the document parked/<messageID>.json (created once; a
// second Park of the same message keeps the first record) and an entry in
// parked/index.json, updated with ETag optimistic concurrency and retried on
// statestore.ErrConflict. Park is idempotent: parking the same MessageID
// again (a redelivery after a lost 200) leaves one entry.
func Park(ctx context.Context, store statestore.Store, p Parked) error {
	if p.MessageID == "" {
		return errors.New("jobs: park: message ID is empty")
	}
	if p.At.IsZero() {
		p.At = time.Now().UTC()
	}
	doc := ParkedDocument(p.MessageID)
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("jobs: park %s: %w", p.MessageID, err)
	}
	// Document first: an index entry then always has its document.
	if _, err := store.Put(ctx, doc, data, statestore.Condition{IfNoneMatch: true}); err != nil && !errors.Is(err, statestore.ErrConflict) {
		return fmt.Errorf("jobs: park %s: %w", p.MessageID, err)
	}
	entry := parkedEntry{MessageID: p.MessageID, Queue: p.Queue, Reason: clipN(p.Reason, 300), At: p.At, Document: doc}
	for attempt := 0; attempt < parkRetries; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		idx, etag, err := readIndex(ctx, store)
		if err != nil {
			return err
		}
		for _, e := range idx.Entries {
			if e.MessageID == p.MessageID {
				return nil
			}
		}
		idx.Entries = append(idx.Entries, entry)
		out, err := json.MarshalIndent(idx, "", "  ")
		if err != nil {
			return fmt.Errorf("jobs: parked index: %w", err)
		}
		cond := statestore.Condition{IfMatch: etag, IfNoneMatch: etag == ""}
		_, err = store.Put(ctx, ParkedIndex, out, cond)
		if err == nil {
			return nil
		}
		if !errors.Is(err, statestore.ErrConflict) {
			return fmt.Errorf("jobs: parked index: %w", err)
		}
		// Someone else parked in between: re-read and try again, after a
		// short random pause so that racing writers spread out.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(rand.IntN(5)+1) * time.Millisecond):
		}
	}
	return fmt.Errorf("jobs: parked index: gave up after %d conflicting writes: %w", parkRetries, statestore.ErrConflict)
}

func readIndex(ctx context.Context, store statestore.Store) (parkedIndex, string, error) {
	data, etag, err := store.Get(ctx, ParkedIndex)
	if errors.Is(err, statestore.ErrNotFound) {
		return parkedIndex{Version: 1}, "", nil
	}
	if err != nil {
		return parkedIndex{}, "", fmt.Errorf("jobs: parked index: %w", err)
	}
	var idx parkedIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return parkedIndex{}, "", fmt.Errorf("jobs: parked index %s is damaged: %w", ParkedIndex, err)
	}
	return idx, etag, nil
}

// ListParked returns every parked job, oldest first, read from the
// documents the index names (the index entry alone when a document is
// missing).
func ListParked(ctx context.Context, store statestore.Store) ([]Parked, error) {
	idx, _, err := readIndex(ctx, store)
	if err != nil {
		return nil, err
	}
	out := make([]Parked, 0, len(idx.Entries))
	for _, e := range idx.Entries {
		p := Parked{MessageID: e.MessageID, Queue: e.Queue, Reason: e.Reason, At: e.At}
		data, _, err := store.Get(ctx, e.Document)
		switch {
		case err == nil:
			var full Parked
			if json.Unmarshal(data, &full) == nil && full.MessageID == e.MessageID {
				p = full
			}
		case !errors.Is(err, statestore.ErrNotFound):
			return nil, fmt.Errorf("jobs: parked %s: %w", e.MessageID, err)
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// clipN cuts s to at most n bytes, at a rune boundary.
func clipN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
