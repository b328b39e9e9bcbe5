package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary files to the config parser, as YAML and as
// JSON: it must never panic or hang (the node budget bounds alias
// expansion), every failure must be a *Error naming the file, and whatever
// it accepts must validate.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile(filepath.Join("testdata", "idpkeeper.yaml")); err == nil {
		f.Add(example, false)
	}
	f.Add([]byte(base), false)
	f.Add([]byte(billionLaughs), false)
	f.Add([]byte("version: 1\ndefaults: &d {leadTime: 30d}\nx: *d\n"), false)
	f.Add([]byte("version: 1\ndefaults:\n  leadTime: 213504d\n  escalationDays: [400, 3]\n"), false)
	f.Add([]byte("version: 1\ndependencies:\n  - ref: federation/x.example\n    metadata: {url: \"https://169.254.169.254/\", allowNetworks: [\"0.0.0.0/0\", \"::1\"]}\n"), false)
	f.Add([]byte("version: 1\nnotifications: {webhook: {url: \"https://10.0.0.1/h\", allowNetworks: [10.0.0.0/8]}}\n"), false)
	f.Add([]byte("{\n\t\"version\": 1,\n\t\"defaults\": {\"leadTime\": \"720h\"}\n}\n"), true)
	f.Add([]byte(`{"version": 1, "owners": [{"name": "a", "email": "a@b.example"}], "dependencies": [{"ref": "social/Google-OAUTH", "owner": "a", "leadTime": "9223372036854775807ns"}]}`), true)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		name := "fuzz.yaml"
		if asJSON {
			name = "fuzz.json"
		}
		cfg, err := parse(context.Background(), name, data, false)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.File != name || len(ce.Problems) == 0 {
				t.Fatalf("error is not a *config.Error naming the file: %T %v", err, err)
			}
			return
		}
		if verr := cfg.Validate(); verr != nil {
			t.Fatalf("accepted, but does not validate: %v", verr)
		}
		if cfg.Defaults.LeadTime <= 0 || cfg.Defaults.LeadTime.Std() > maxLeadTime {
			t.Fatalf("accepted lead time %v", cfg.Defaults.LeadTime)
		}
	})
}
