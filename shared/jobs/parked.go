package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
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

// ParkedPrefix is the folder of parked jobs in the state store: one
// document per job, listed (never indexed) so that parking is one write
// whatever the number of jobs already parked.
const ParkedPrefix = "parked/"

// legacyIndex is the index earlier versions rewrote on every park (a
// quadratic cost: 3,000 parked events took 76 s). It is no longer written
// or read; retention deletes it with the rest.
const legacyIndex = ParkedPrefix + "index.json"

// ParkedDocument is the state store document holding one parked job:
// parked/<messageID>.json. A message ID from a foreign sender with
// characters outside [A-Za-z0-9._-] (or longer than 100) is sanitised and
// given a hash suffix, so it can neither leave the folder nor collide.
func ParkedDocument(messageID string) string {
	// A leading dot would name one of the folder store's own files.
	name := strings.TrimLeft(sanitize(messageID, 100), ".")
	if name != messageID || name == "" || name == "index" {
		sum := sha256.Sum256([]byte(messageID))
		name += "-" + hex.EncodeToString(sum[:6])
	}
	return ParkedPrefix + name + ".json"
}

// Park records p as the document parked/<messageID>.json, created once with
// a create-if-absent write: a second Park of the same message (a
// redelivery after a lost 200) keeps the first record and succeeds. One
// write per job, whatever is parked already.
func Park(ctx context.Context, store statestore.Store, p Parked) error {
	if p.MessageID == "" {
		return errors.New("jobs: park: message ID is empty")
	}
	if p.At.IsZero() {
		p.At = time.Now().UTC()
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("jobs: park %s: %w", p.MessageID, err)
	}
	if _, err := store.Put(ctx, ParkedDocument(p.MessageID), data, statestore.Condition{IfNoneMatch: true}); err != nil && !errors.Is(err, statestore.ErrConflict) {
		return fmt.Errorf("jobs: park %s: %w", p.MessageID, err)
	}
	return nil
}

// parkWorkers bounds the writes ParkAll makes at once: enough to hide Blob
// Storage's round trips, few enough not to be throttled.
const parkWorkers = 16

// ParkAll parks many jobs at once (a delivery of thousands of malformed
// events), with up to parkWorkers writes in flight. It returns the first
// error after trying every job.
func ParkAll(ctx context.Context, store statestore.Store, ps []Parked) error {
	if len(ps) == 1 {
		return Park(ctx, store, ps[0])
	}
	next := make(chan Parked)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(parkWorkers, len(ps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				if err := Park(ctx, store, p); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range ps {
		next <- p
	}
	close(next)
	wg.Wait()
	return first
}

// ListParked returns the parked jobs, oldest first: with max > 0 only the
// max most recently parked (judged by the documents' times, so only those
// are read). A document that does not read as a parked job is listed with
// its name and why, rather than hidden.
func ListParked(ctx context.Context, store statestore.Store, max int) ([]Parked, error) {
	lister, err := statestore.AsLister(store)
	if err != nil {
		return nil, fmt.Errorf("jobs: parked jobs: %w", err)
	}
	infos, err := lister.List(ctx, ParkedPrefix)
	if err != nil {
		return nil, fmt.Errorf("jobs: parked jobs: %w", err)
	}
	docs := infos[:0]
	for _, in := range infos {
		if in.Name != legacyIndex && strings.HasSuffix(in.Name, ".json") {
			docs = append(docs, in)
		}
	}
	if max > 0 && len(docs) > max {
		sort.SliceStable(docs, func(i, j int) bool { return docs[i].Modified.After(docs[j].Modified) })
		docs = docs[:max]
	}
	out := make([]Parked, 0, len(docs))
	for _, in := range docs {
		data, _, err := store.Get(ctx, in.Name)
		if errors.Is(err, statestore.ErrNotFound) {
			continue // pruned meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: parked %s: %w", in.Name, err)
		}
		var p Parked
		if err := json.Unmarshal(data, &p); err != nil || p.MessageID == "" {
			p = Parked{MessageID: strings.TrimSuffix(strings.TrimPrefix(in.Name, ParkedPrefix), ".json"),
				Reason: fmt.Sprintf("%s does not read as a parked job (%v)", in.Name, err), At: in.Modified}
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// PruneParked deletes parked jobs parked before cutoff (by the documents'
// times) and returns how many.
func PruneParked(ctx context.Context, store statestore.Store, cutoff time.Time) (int, error) {
	return statestore.Prune(ctx, store, ParkedPrefix, cutoff, nil)
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
