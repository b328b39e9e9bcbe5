// Package events turns Key Vault events delivered by Event Grid into
// IdP Keeper jobs. The KeyVaultEvents function and `idpkeeper events handle`
// both call Handler.Handle, so a file of events replays exactly what the
// function would do.
//
// Key Vault's event data is documented inconsistently (MicrosoftDocs
// articles/event-grid/event-schema-key-vault.md shows "Id" next to
// "vaultName", a trailing space in "objectName ", NBF/EXP as strings in the
// example and numbers in the table), so the data is read case-insensitively,
// with keys trimmed, and times accepted as number or string epoch seconds.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/funchost"
)

// The Key Vault event types IdP Keeper acts on (the Event Grid subscription
// filters to exactly these).
const (
	SecretNearExpiry             = "Microsoft.KeyVault.SecretNearExpiry"
	SecretExpired                = "Microsoft.KeyVault.SecretExpired"
	SecretNewVersionCreated      = "Microsoft.KeyVault.SecretNewVersionCreated"
	CertificateNearExpiry        = "Microsoft.KeyVault.CertificateNearExpiry"
	CertificateExpired           = "Microsoft.KeyVault.CertificateExpired"
	CertificateNewVersionCreated = "Microsoft.KeyVault.CertificateNewVersionCreated"
)

// HandledTypes lists them, for filters and documentation.
var HandledTypes = []string{
	SecretNearExpiry, SecretExpired, SecretNewVersionCreated,
	CertificateNearExpiry, CertificateExpired, CertificateNewVersionCreated,
}

// KeyVaultData is the data of a Key Vault event.
type KeyVaultData struct {
	ID         string     `json:"id"` // https://VAULT.vault.azure.net/secrets/NAME/VERSION
	VaultName  string     `json:"vaultName"`
	ObjectType string     `json:"objectType"` // Secret | Certificate | Key
	ObjectName string     `json:"objectName"`
	Version    string     `json:"version"`
	NotBefore  *time.Time `json:"nbf,omitempty"`
	Expires    *time.Time `json:"exp,omitempty"`
}

// KeyVaultEvent is a Key Vault event, from either delivery schema.
type KeyVaultEvent struct {
	ID      string       `json:"id"`
	Type    string       `json:"eventType"`
	Subject string       `json:"subject"`
	Time    time.Time    `json:"eventTime"`
	Data    KeyVaultData `json:"data"`
}

// ErrMalformed wraps every reason an event cannot be understood.
var ErrMalformed = errors.New("malformed event")

// ParseKeyVault reads a Key Vault event out of an Event Grid (or
// CloudEvents) envelope. It fails, wrapping ErrMalformed, when the data
// lacks what a job needs: the vault and the object name.
func ParseKeyVault(e funchost.EventGridEvent) (KeyVaultEvent, error) {
	ev := KeyVaultEvent{ID: e.ID, Type: e.Type, Subject: strings.TrimSpace(e.Subject), Time: e.Time}
	if ev.ID == "" {
		return ev, fmt.Errorf("%w: no event id", ErrMalformed)
	}
	if len(bytes.TrimSpace(e.Data)) == 0 {
		return ev, fmt.Errorf("%w: event %s has no data", ErrMalformed, e.ID)
	}
	var raw map[string]json.RawMessage
	if err := e.DecodeData(&raw); err != nil {
		return ev, fmt.Errorf("%w: event %s data is not a JSON object: %v", ErrMalformed, e.ID, err)
	}
	fields := make(map[string]json.RawMessage, len(raw))
	for k, v := range raw {
		fields[strings.ToLower(strings.TrimSpace(k))] = v
	}
	text := func(key string) string {
		v, ok := fields[key]
		if !ok {
			return ""
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			return strings.TrimSpace(s)
		}
		return ""
	}
	d := &ev.Data
	d.ID, d.VaultName, d.ObjectType, d.ObjectName, d.Version =
		text("id"), text("vaultname"), text("objecttype"), text("objectname"), text("version")
	var err error
	if d.NotBefore, err = epoch(fields["nbf"]); err != nil {
		return ev, fmt.Errorf("%w: event %s: nbf: %v", ErrMalformed, e.ID, err)
	}
	if d.Expires, err = epoch(fields["exp"]); err != nil {
		return ev, fmt.Errorf("%w: event %s: exp: %v", ErrMalformed, e.ID, err)
	}
	// The object ID carries vault, name and version too; fill what the
	// explicit fields left out.
	if vault, name, version, ok := splitObjectID(d.ID); ok {
		if d.VaultName == "" {
			d.VaultName = vault
		}
		if d.ObjectName == "" {
			d.ObjectName = name
		}
		if d.Version == "" {
			d.Version = version
		}
	}
	if d.ObjectName == "" {
		d.ObjectName = ev.Subject
	}
	if d.VaultName == "" {
		return ev, fmt.Errorf("%w: event %s names no vault (data.VaultName or data.Id)", ErrMalformed, e.ID)
	}
	if d.ObjectName == "" {
		return ev, fmt.Errorf("%w: event %s names no object (data.ObjectName, data.Id or subject)", ErrMalformed, e.ID)
	}
	return ev, nil
}

// splitObjectID splits https://VAULT.vault.azure.net/{secrets|certificates}/NAME[/VERSION].
func splitObjectID(id string) (vault, name, version string, ok bool) {
	rest, found := strings.CutPrefix(id, "https://")
	if !found {
		return "", "", "", false
	}
	host, path, _ := strings.Cut(rest, "/")
	vault, _, _ = strings.Cut(host, ".")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if vault == "" || len(parts) < 2 || parts[1] == "" {
		return "", "", "", false
	}
	if len(parts) > 2 {
		version = parts[2]
	}
	return vault, parts[1], version, true
}

// epoch reads Unix seconds given as a JSON number or string; absent or null
// is nil.
func epoch(raw json.RawMessage) (*time.Time, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return nil, nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not Unix seconds", s)
	}
	t := time.Unix(int64(f), 0).UTC()
	return &t, nil
}

// Split reads a delivery as Event Grid sends it to a webhook — a JSON array
// of events, or one event object — into the raw events, so that each one can
// be parsed, and rejected, on its own. A delivery wrapped in JSON string
// layers (how the Functions host passes a string-typed binding: funchost
// doc.go [H4]) is unwrapped first. The KeyVaultEvents function and `events
// handle` both read deliveries here, so a file the command accepts is what
// the function accepts.
func Split(data []byte) ([]json.RawMessage, error) {
	trimmed := unquote(bytes.TrimSpace(data))
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrMalformed)
	}
	if trimmed[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, fmt.Errorf("%w: not a JSON array of events: %v", ErrMalformed, err)
		}
		return raws, nil
	}
	if !json.Valid(trimmed) {
		return nil, fmt.Errorf("%w: not JSON", ErrMalformed)
	}
	return []json.RawMessage{trimmed}, nil
}

// unquote removes up to three JSON-string layers around a payload.
func unquote(raw []byte) []byte {
	for i := 0; i < 3 && len(raw) > 0 && raw[0] == '"'; i++ {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			break
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	return raw
}

// Decode parses one raw event envelope.
func Decode(raw json.RawMessage) (funchost.EventGridEvent, error) {
	var e funchost.EventGridEvent
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if strings.TrimSpace(e.Type) == "" {
		// A CloudEvent must carry type (CloudEvents 1.0 spec, "REQUIRED
		// Attributes"); without it nobody can tell what happened, so the
		// event is rejected and parked, not ignored as foreign.
		return e, fmt.Errorf("%w: event %q has no type (CloudEvents type / Event Grid eventType)", ErrMalformed, e.ID)
	}
	return e, nil
}
