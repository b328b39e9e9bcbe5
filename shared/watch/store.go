package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// Prefix is the folder of the state store that holds the histories.
const Prefix = "watch/endpoints/"

var keyRE = regexp.MustCompile(`^E-[0-9a-f]{12}$`)

// DocumentName is the state document of an endpoint's history.
func DocumentName(key string) string { return Prefix + key + ".json" }

// maxHistoryBytes bounds a history document read back: two days of checks
// every minute and 90 day summaries are far below it.
const maxHistoryBytes = 8 << 20

// Store keeps histories in a state store (Blob Storage or a folder), one
// document per endpoint, watch/endpoints/<key>.json. Record is read →
// modify → conditional write (If-None-Match: * for a new document,
// If-Match otherwise), retried on conflict, so two rounds racing on one
// endpoint cannot lose a result.
type Store struct {
	State statestore.Store
	// Seed, when set, is read for an endpoint the state does not have yet:
	// a snapshot's recorded history (examples/tenant/watch), so a local run
	// continues it instead of starting empty. It is never written.
	Seed statestore.Store
}

// ErrUnreadable is returned for a history document that does not decode.
var ErrUnreadable = errors.New("watch: history document is unreadable")

// Load returns the history of key and its ETag ("" when it came from the
// seed or does not exist; then the history is nil without a seed copy).
func (s Store) Load(ctx context.Context, key string) (*History, string, error) {
	if !keyRE.MatchString(key) {
		return nil, "", fmt.Errorf("watch: %q is not an endpoint key", key)
	}
	if s.State != nil {
		h, etag, err := load(ctx, s.State, key)
		if err == nil || !errors.Is(err, statestore.ErrNotFound) {
			return h, etag, err
		}
	}
	if s.Seed != nil {
		h, _, err := load(ctx, s.Seed, key)
		if err == nil {
			return h, "", nil
		}
		if !errors.Is(err, statestore.ErrNotFound) {
			return nil, "", err
		}
	}
	return nil, "", nil
}

func load(ctx context.Context, st statestore.Store, key string) (*History, string, error) {
	data, etag, err := st.Get(ctx, DocumentName(key))
	if err != nil {
		return nil, "", err
	}
	if len(data) > maxHistoryBytes {
		return nil, "", fmt.Errorf("%w: %s is %d bytes", ErrUnreadable, DocumentName(key), len(data))
	}
	var h History
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, "", fmt.Errorf("%w: %s", ErrUnreadable, DocumentName(key))
	}
	if h.Version > HistoryVersion {
		return nil, "", fmt.Errorf("%w: %s has version %d, this build reads %d", ErrUnreadable, DocumentName(key), h.Version, HistoryVersion)
	}
	return &h, etag, nil
}

// Record appends r to ep's history and writes it back. An unreadable
// document is replaced by a fresh history rather than blocking the watch
// (the error is returned alongside, for the log).
func (s Store) Record(ctx context.Context, ep Endpoint, r Result, rules Rules) (*History, error) {
	if s.State == nil {
		return nil, errors.New("watch: no state store")
	}
	if r.State == "" {
		return nil, nil // not checked this round: nothing to record
	}
	var lost error
	for attempt := 0; attempt < 8; attempt++ {
		h, etag, err := s.Load(ctx, ep.Key)
		if errors.Is(err, ErrUnreadable) {
			lost, h, etag = err, nil, ""
			// Overwrite whatever is there.
			if _, e2, gerr := s.State.Get(ctx, DocumentName(ep.Key)); gerr == nil {
				etag = e2
			}
		} else if err != nil {
			return nil, err
		}
		if h == nil {
			h = &History{Version: HistoryVersion}
		}
		h.Endpoint = InfoOf(ep)
		if !h.Record(r, rules) && etag != "" {
			return h, lost // nothing new (a repeat): no write
		}
		data, err := json.Marshal(h)
		if err != nil {
			return nil, err
		}
		cond := statestore.Condition{IfMatch: etag, IfNoneMatch: etag == ""}
		if _, err := s.State.Put(ctx, DocumentName(ep.Key), data, cond); err != nil {
			if errors.Is(err, statestore.ErrConflict) {
				continue
			}
			return nil, err
		}
		return h, lost
	}
	return nil, fmt.Errorf("watch: %s: too many concurrent writers", DocumentName(ep.Key))
}

// Memory is an in-process statestore.Store: the watch's state when no
// --state folder is given (nothing is kept after the command).
type Memory struct {
	mu   sync.Mutex
	docs map[string][]byte
}

// Describe implements statestore.Store.
func (m *Memory) Describe() string { return "memory" }

// Get implements statestore.Store.
func (m *Memory) Get(_ context.Context, name string) ([]byte, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.docs[name]
	if !ok {
		return nil, "", statestore.ErrNotFound
	}
	return append([]byte(nil), d...), etagOf(d), nil
}

// Put implements statestore.Store.
func (m *Memory) Put(_ context.Context, name string, data []byte, cond statestore.Condition) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, exists := m.docs[name]
	if cond.IfNoneMatch && exists {
		return "", statestore.ErrConflict
	}
	if cond.IfMatch != "" && (!exists || etagOf(cur) != cond.IfMatch) {
		return "", statestore.ErrConflict
	}
	if m.docs == nil {
		m.docs = map[string][]byte{}
	}
	m.docs[name] = append([]byte(nil), data...)
	return etagOf(data), nil
}

func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}
