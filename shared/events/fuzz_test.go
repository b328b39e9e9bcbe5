package events_test

import (
	"errors"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/events"
)

// Whatever Event Grid (or anyone who can reach the endpoint) sends, parsing
// either succeeds with a vault and object named, or fails with ErrMalformed;
// it never panics.
func FuzzParseKeyVault(f *testing.F) {
	f.Add([]byte(docsSample))
	f.Add([]byte(cloudEvent))
	f.Add([]byte("[" + docsSample + "]"))
	f.Add([]byte(`{"id":"1","eventType":"x","data":"{\"VaultName\":\"kv\",\"ObjectName\":\"n\"}"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		raws, err := events.Split(data)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("Split: unclassified error %v", err)
			}
			return
		}
		for _, r := range raws {
			e, err := events.Decode(r)
			if err != nil {
				continue
			}
			ev, err := events.ParseKeyVault(e)
			if err != nil {
				if !errors.Is(err, events.ErrMalformed) {
					t.Fatalf("ParseKeyVault: unclassified error %v", err)
				}
				continue
			}
			if ev.Data.VaultName == "" || ev.Data.ObjectName == "" {
				t.Fatalf("accepted an event without vault or object: %+v", ev)
			}
		}
	})
}
