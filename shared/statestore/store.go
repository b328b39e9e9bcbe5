// Package statestore keeps IdP Keeper's small state documents (the latest
// report now; the ledger and last good metadata later) in Azure Blob Storage,
// or in a folder for local runs, with optimistic concurrency: every read
// returns an ETag and a write can require that the document is still the one
// read (If-Match) or does not exist yet (If-None-Match: *). Two handlers
// racing on one document therefore cannot lose an update silently.
package statestore

import (
	"context"
	"errors"
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
