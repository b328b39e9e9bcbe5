package watch

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultSchedule is the WatchTimer's NCRONTAB when IDPKEEPER_WATCH_SCHEDULE
// is unset: every 10 minutes.
const DefaultSchedule = "0 */10 * * * *"

// Schedule is a six-field NCRONTAB expression ({second} {minute} {hour}
// {day} {month} {day-of-week}, UTC), the format of the Functions timer
// trigger: each field is *, a number, a range a-b, a list a,b and any of
// them with a step /n. `idpkeeper watch` without --once follows the same
// setting as the WatchTimer, so both check at the same moments.
type Schedule struct {
	fields [6]map[int]bool
}

var scheduleBounds = [6][2]int{{0, 59}, {0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 6}}

// ParseSchedule reads a six-field NCRONTAB expression.
func ParseSchedule(expr string) (Schedule, error) {
	parts := strings.Fields(expr)
	if len(parts) != 6 {
		return Schedule{}, fmt.Errorf("NCRONTAB %q: want six fields (second minute hour day month day-of-week), got %d", expr, len(parts))
	}
	var s Schedule
	for i, p := range parts {
		set, err := parseField(p, scheduleBounds[i][0], scheduleBounds[i][1])
		if err != nil {
			return Schedule{}, fmt.Errorf("NCRONTAB %q: field %d: %v", expr, i+1, err)
		}
		s.fields[i] = set
	}
	return s, nil
}

func parseField(f string, lo, hi int) (map[int]bool, error) {
	set := map[int]bool{}
	for _, item := range strings.Split(f, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("step %q is not a positive number", stepText)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			x, err1 := strconv.Atoi(a)
			y, err2 := strconv.Atoi(b)
			if err1 != nil || err2 != nil || x > y {
				return nil, fmt.Errorf("range %q is not a-b", rng)
			}
			from, to = x, y
		default:
			x, err := strconv.Atoi(rng)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", rng)
			}
			from, to = x, x
			if hasStep {
				to = hi
			}
		}
		if from < lo || to > hi {
			return nil, fmt.Errorf("%q is outside %d-%d", item, lo, hi)
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return set, nil
}

// Next is the first moment after t the schedule fires (UTC); the zero time
// when it never does within a year (31 February).
func (s Schedule) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Second).Add(time.Second)
	end := t.AddDate(1, 0, 0)
	for m := t.Truncate(time.Minute); m.Before(end); m = m.Add(time.Minute) {
		if !s.fields[4][int(m.Month())] || !s.fields[3][m.Day()] || !s.fields[5][int(m.Weekday())] || !s.fields[2][m.Hour()] || !s.fields[1][m.Minute()] {
			continue
		}
		for sec := 0; sec < 60; sec++ {
			at := m.Add(time.Duration(sec) * time.Second)
			if s.fields[0][sec] && !at.Before(t) {
				return at
			}
		}
	}
	return time.Time{}
}
