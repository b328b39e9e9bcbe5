// Package statestore keeps IdP Keeper's small state documents (reports, the
// ledger, last good metadata, parked jobs, stored notices) in Azure Blob
// Storage, or in a folder for local runs, with optimistic concurrency: every
// read returns an ETag and a write can require that the document is still
// the one read (If-Match) or does not exist yet (If-None-Match: *). Two
// handlers racing on one document therefore cannot lose an update silently
// — whether they run in one process or in many (Blob: the service checks
// the condition; Dir: an OS file lock held across check and write).
package statestore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// ErrNotFound is returned by Get for a document that does not exist.
var ErrNotFound = errors.New("statestore: document not found")

// ErrConflict is returned by Put when its condition no longer holds: someone
// else wrote the document in between. Read it again and retry.
var ErrConflict = errors.New("statestore: document changed since it was read")

// Condition guards a write.
type Condition struct {
	// IfMatch, when set, is the ETag the document must still have.
	IfMatch string
	// IfNoneMatch makes the write create the document only if it is absent.
	IfNoneMatch bool
}

// Store is a keyed set of small documents with ETags.
type Store interface {
	Get(ctx context.Context, name string) (data []byte, etag string, err error)
	Put(ctx context.Context, name string, data []byte, cond Condition) (etag string, err error)
	// Describe names the store for logs and reports ("blob:<account>/<container>", "dir:<path>").
	Describe() string
}

// Info describes one listed document.
type Info struct {
	Name     string
	Modified time.Time
	Size     int64
}

// Lister is a Store that can list and delete its documents, which is what
// retention needs (parked jobs, stored notices: one document per item,
// pruned by age). Dir and Blob are both Listers.
type Lister interface {
	Store
	// List returns the documents whose names start with prefix, sorted by
	// name.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes a document; a missing one is not an error.
	Delete(ctx context.Context, name string) error
}

// AsLister returns s as a Lister, or an error naming the store that cannot
// list (a wrapper that hides the methods).
func AsLister(s Store) (Lister, error) {
	if l, ok := s.(Lister); ok {
		return l, nil
	}
	if s == nil {
		return nil, errors.New("statestore: no state store")
	}
	return nil, fmt.Errorf("statestore: %s cannot list or delete documents", s.Describe())
}

// Prune deletes the documents under prefix last modified before cutoff and
// returns how many it deleted. keep, when not nil, spares a document.
func Prune(ctx context.Context, s Store, prefix string, cutoff time.Time, keep func(Info) bool) (int, error) {
	n, _, err := PruneAtMost(ctx, s, prefix, cutoff, keep, 0)
	return n, err
}

// PruneAtMost is Prune bounded to max deletions (max <= 0: no bound), the
// oldest documents first, so that a sweep over a large backlog ends in time
// and the next one carries on. more reports that expired documents are
// left for the next sweep.
func PruneAtMost(ctx context.Context, s Store, prefix string, cutoff time.Time, keep func(Info) bool, max int) (n int, more bool, err error) {
	l, err := AsLister(s)
	if err != nil {
		return 0, false, err
	}
	infos, err := l.List(ctx, prefix)
	if err != nil {
		return 0, false, err
	}
	expired := infos[:0]
	for _, in := range infos {
		if in.Modified.Before(cutoff) && (keep == nil || !keep(in)) {
			expired = append(expired, in)
		}
	}
	sort.SliceStable(expired, func(i, j int) bool { return expired[i].Modified.Before(expired[j].Modified) })
	for _, in := range expired {
		if max > 0 && n >= max {
			return n, true, nil
		}
		if err := ctx.Err(); err != nil {
			return n, true, err
		}
		if err := l.Delete(ctx, in.Name); err != nil {
			return n, true, err
		}
		n++
	}
	return n, false, nil
}
