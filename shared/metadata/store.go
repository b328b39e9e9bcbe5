package metadata

import (
	"context"
	"time"
)

// Record is the last good (fetched, parsed and, when required, verified)
// metadata of one partner. A failed refresh never replaces it, so a
// partner's outage or a broken signature does not erase what was known.
type Record struct {
	PartnerID string    `json:"partnerId"`
	FetchedAt time.Time `json:"fetchedAt"`
	// URL is the final URL the document came from.
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
	// DocumentSHA256 is the hash of the document bytes (hex).
	DocumentSHA256 string          `json:"documentSha256"`
	Entity         Entity          `json:"entity"`
	Signature      SignatureStatus `json:"signature"`
}

// Validators returns the record's cache validators for a conditional GET;
// a nil record has none.
func (r *Record) Validators() Validators {
	if r == nil {
		return Validators{}
	}
	return Validators{ETag: r.ETag, LastModified: r.LastModified}
}

// Store keeps the last good Record per partner.
type Store interface {
	// Load returns the partner's record, or (nil, nil) when there is none.
	Load(ctx context.Context, partnerID string) (*Record, error)
	// Save replaces the partner's record.
	Save(ctx context.Context, partnerID string, rec Record) error
}
