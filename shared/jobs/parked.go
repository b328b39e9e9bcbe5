package jobs

import (
	"bytes"
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

// BatchPrefix holds the documents ParkAll writes: each parks many jobs at
// once, as {"parked": [job, …]}. A single-job document
// (ParkedDocument) never names a sub-folder, so the two cannot collide.
const BatchPrefix = ParkedPrefix + "batches/"

// batchMaxBytes bounds one batch document. A delivery of 10,000 malformed
// events is a handful of documents, not 10,000: Blob Storage answers a few
// hundred writes a second per client (Azurite about 300), which made one
// document per event 30 s for such a delivery; the goal is under 2 s
// (BenchmarkKeyVaultEventsRejected).
const batchMaxBytes = 1 << 20

// ParkAll parks many jobs at once (a delivery of thousands of malformed
// events): one job is parked as by Park; more are written as batch
// documents of at most batchMaxBytes each, up to parkWorkers at once. A
// batch document's name is the hash of its jobs' message IDs, and it is
// created once: a redelivery of the same jobs keeps the first record and
// succeeds. Jobs repeating a message ID are parked once (the first). It
// returns the first error after trying every document; nothing is dropped
// silently.
func ParkAll(ctx context.Context, store statestore.Store, ps []Parked) error {
	if len(ps) == 1 {
		return Park(ctx, store, ps[0])
	}
	docs, err := batchDocuments(ps, time.Now().UTC())
	if err != nil {
		return err
	}
	next := make(chan batchDocument)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(parkWorkers, len(docs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range next {
				_, err := store.Put(ctx, d.name, d.data, statestore.Condition{IfNoneMatch: true})
				if err != nil && !errors.Is(err, statestore.ErrConflict) {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("jobs: park %d jobs as %s: %w", d.jobs, d.name, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, d := range docs {
		next <- d
	}
	close(next)
	wg.Wait()
	return first
}

type batchDocument struct {
	name string
	data []byte
	jobs int
}

// batchDocuments cuts ps into documents of at most batchMaxBytes (a job
// bigger than that alone makes one document).
func batchDocuments(ps []Parked, now time.Time) ([]batchDocument, error) {
	var out []batchDocument
	var buf bytes.Buffer
	ids := sha256.New()
	n := 0
	flush := func() {
		if n == 0 {
			return
		}
		buf.WriteString("\n]}\n")
		out = append(out, batchDocument{name: BatchPrefix + hex.EncodeToString(ids.Sum(nil)[:16]) + ".json", data: bytes.Clone(buf.Bytes()), jobs: n})
		buf.Reset()
		ids.Reset()
		n = 0
	}
	seen := make(map[string]bool, len(ps))
	for _, p := range ps {
		if p.MessageID == "" {
			return nil, errors.New("jobs: park: message ID is empty")
		}
		if seen[p.MessageID] {
			continue
		}
		seen[p.MessageID] = true
		if p.At.IsZero() {
			p.At = now
		}
		item, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("jobs: park %s: %w", p.MessageID, err)
		}
		if n > 0 && buf.Len()+len(item)+8 > batchMaxBytes {
			flush()
		}
		if n == 0 {
			buf.WriteString(`{"parked": [` + "\n")
		} else {
			buf.WriteString(",\n")
		}
		buf.Write(item)
		ids.Write([]byte(p.MessageID))
		ids.Write([]byte{0})
		n++
	}
	flush()
	return out, nil
}

// ListParked returns the parked jobs, oldest first: with max > 0 only the
// max most recently parked (judged by the documents' times, so only the
// newest documents are read). A document that does not read as a parked
// job (or a batch of them) is listed with its name and why, rather than
// hidden. A job parked twice (singly and in a batch) is listed once.
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
	if max > 0 {
		sort.SliceStable(docs, func(i, j int) bool { return docs[i].Modified.After(docs[j].Modified) })
	}
	out := []Parked{}
	seen := map[string]int{}
	for _, in := range docs {
		if max > 0 && len(out) >= max {
			break
		}
		data, _, err := store.Get(ctx, in.Name)
		if errors.Is(err, statestore.ErrNotFound) {
			continue // pruned meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: parked %s: %w", in.Name, err)
		}
		for _, p := range readParked(in, data) {
			if i, dup := seen[p.MessageID]; dup {
				if p.At.Before(out[i].At) {
					out[i] = p
				}
				continue
			}
			seen[p.MessageID] = len(out)
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	if max > 0 && len(out) > max {
		out = out[len(out)-max:]
	}
	return out, nil
}

// readParked reads one document under parked/: one job, or a batch.
func readParked(in statestore.Info, data []byte) []Parked {
	damaged := func(err error) []Parked {
		return []Parked{{MessageID: strings.TrimSuffix(strings.TrimPrefix(in.Name, ParkedPrefix), ".json"),
			Reason: fmt.Sprintf("%s does not read as a parked job (%v)", in.Name, err), At: in.Modified}}
	}
	if strings.HasPrefix(in.Name, BatchPrefix) {
		var b struct {
			Parked []Parked `json:"parked"`
		}
		err := json.Unmarshal(data, &b)
		if err == nil && len(b.Parked) == 0 {
			err = errors.New("no jobs in the batch")
		}
		for _, p := range b.Parked {
			if err == nil && p.MessageID == "" {
				err = errors.New("a job without message ID")
			}
		}
		if err != nil {
			return damaged(err)
		}
		return b.Parked
	}
	var p Parked
	if err := json.Unmarshal(data, &p); err != nil || p.MessageID == "" {
		return damaged(err)
	}
	return []Parked{p}
}

// PruneParked deletes the documents under parked/ (single jobs and
// batches) written before cutoff and returns how many.
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
