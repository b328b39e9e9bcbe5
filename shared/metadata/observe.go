package metadata

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Observation is what one refresh of a partner's metadata saw: the input of
// Plan.
type Observation struct {
	// Entity is the partner's entity from a document that passed every
	// check, or from the last good record when the server answered "not
	// modified". Nil when the refresh failed.
	Entity *Entity `json:"entity,omitempty"`
	// Err is the typed failure (*Error) when the refresh failed.
	Err error `json:"-"`
	// Last is the last good record from before this refresh (nil if none).
	Last *Record `json:"last,omitempty"`
	// Trusted is true when the bytes were vouched for: the root signature
	// verified against a trust anchor, or the document came over https.
	// Plan never applies a change from untrusted bytes.
	Trusted bool `json:"trusted"`
	// NotModified is true when Entity is the last record's, confirmed by a
	// 304 answer to a conditional GET.
	NotModified bool `json:"notModified,omitempty"`
}

// Refresh loads the partner's last good record, fetches the source with a
// conditional GET, reads and verifies the document, saves it as the new last
// good record when it passes, and returns the Observation for Plan. Metadata
// failures are returned inside the Observation (the last record stays as it
// was); the error result is only for a store that cannot be read or written.
func Refresh(ctx context.Context, f *Fetcher, store Store, partnerID string, src Source, trust *TrustAnchor, now time.Time) (Observation, error) {
	last, err := store.Load(ctx, partnerID)
	if err != nil {
		return Observation{}, err
	}
	obs := Observation{Last: last}
	fetched, err := f.Fetch(ctx, src, last.Validators())
	if err != nil {
		obs.Err = err
		return obs, nil
	}
	if fetched.NotModified {
		if last == nil {
			obs.Err = &Error{Kind: KindHTTPStatus, URL: fetched.URL, Status: http.StatusNotModified, Detail: "304 Not Modified without a previous document"}
			return obs, nil
		}
		obs.Entity, obs.NotModified = &last.Entity, true
		obs.Trusted = last.Signature.Verified || isHTTPS(last.URL)
		return obs, nil
	}
	doc, err := ReadBytes(ctx, fetched.Body, ReadOptions{EntityID: src.EntityID, Trust: trust, Now: now})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.URL == "" {
			e.URL = fetched.URL
		}
		obs.Err = err
		return obs, nil
	}
	rec := Record{
		PartnerID:      partnerID,
		FetchedAt:      fetched.FetchedAt,
		URL:            fetched.URL,
		ETag:           fetched.ETag,
		LastModified:   fetched.LastModified,
		DocumentSHA256: doc.SHA256,
		Entity:         doc.Entity,
		Signature:      doc.Signature,
	}
	if err := store.Save(ctx, partnerID, rec); err != nil {
		return Observation{}, err
	}
	obs.Entity = &rec.Entity
	obs.Trusted = doc.Signature.Verified || isHTTPS(fetched.URL)
	return obs, nil
}

func isHTTPS(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https"
}

// FromLastGood is the Observation a refresh would make if the partner's
// server answered "not modified": the last good record, as trusted as it was
// when fetched. Scans use it to report what the metadata last said without
// fetching it again (the RefreshMetadata job fetches).
func FromLastGood(last *Record) (Observation, bool) {
	if last == nil {
		return Observation{}, false
	}
	return Observation{Entity: &last.Entity, Last: last, NotModified: true, Trusted: last.Signature.Verified || isHTTPS(last.URL)}, true
}
