package main

import (
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/pipeline"
)

// The retention settings are whole days; empty keeps the defaults; anything
// else is refused with the setting's name, and run stops on it.
func TestRetentionFromSettings(t *testing.T) {
	t.Setenv(settingRetentionParked, "")
	t.Setenv(settingRetentionNotices, "")
	if r, err := retentionFromSettings(); err != nil || r != (pipeline.Retention{}) {
		t.Errorf("unset: %+v, %v; want the zero value (defaults)", r, err)
	}
	t.Setenv(settingRetentionParked, "7")
	t.Setenv(settingRetentionNotices, " 730 ")
	if r, err := retentionFromSettings(); err != nil || r.Parked != 7*24*time.Hour || r.Notices != 730*24*time.Hour {
		t.Errorf("7 and 730: %+v, %v", r, err)
	}
	for _, bad := range []string{"0", "-1", "90d", "3651", "1e3", "99999999999999999999"} {
		t.Setenv(settingRetentionParked, bad)
		if _, err := retentionFromSettings(); err == nil || !strings.Contains(err.Error(), settingRetentionParked) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	t.Setenv(settingRetentionParked, "soon")
	code, _, errOut := runCLI(t, "run", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--state", t.TempDir(), "--outbox", t.TempDir())
	if code == exitOK || !strings.Contains(errOut, settingRetentionParked) {
		t.Errorf("run with a bad retention setting: exit %d\n%s", code, errOut)
	}
}
