package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// FileStore is a Store with one JSON file per partner in Dir. Writes go to a
// temporary file renamed over the old one, so a crash leaves either the old
// record or the new one, never half of one.
type FileStore struct {
	Dir string
}

// Load implements Store.
func (s FileStore) Load(_ context.Context, partnerID string) (*Record, error) {
	path, err := s.path(partnerID)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("metadata store: %s: %w", filepath.Base(path), err)
	}
	return &rec, nil
}

// Save implements Store.
func (s FileStore) Save(_ context.Context, partnerID string, rec Record) error {
	path, err := s.path(partnerID)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("metadata store: %w", err)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("metadata store: %w", err)
	}
	tmp, err := os.CreateTemp(s.Dir, ".tmp-*.json")
	if err != nil {
		return fmt.Errorf("metadata store: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("metadata store: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("metadata store: %w", err)
	}
	return nil
}

// path maps a partner ID to a file name that cannot leave Dir. IDs are
// lower-cased because Graph IDs and domains compare case-insensitively
// (inventory.SameID); bytes outside [a-z0-9._-] are percent-encoded, and a
// leading '.' too, so "..", "/" and "\\" cannot form a path.
func (s FileStore) path(partnerID string) (string, error) {
	if s.Dir == "" {
		return "", errors.New("metadata store: no directory")
	}
	if partnerID == "" {
		return "", errors.New("metadata store: empty partner ID")
	}
	var b strings.Builder
	id := strings.ToLower(partnerID)
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return filepath.Join(s.Dir, b.String()+".json"), nil
}
