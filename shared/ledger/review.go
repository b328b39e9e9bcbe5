package ledger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// NoticeRef is one notice of one finding, for the operator's review.
type NoticeRef struct {
	FindingID string `json:"findingId"`
	Notice
}

// Corrupt is a ledger document that is not an entry.
type Corrupt struct {
	Document string `json:"document"`
	Reason   string `json:"reason"`
}

// Review is what an operator should look at in the ledger: claims whose
// lease lapsed and that nobody has taken over yet (the notice was probably
// never sent; the next claim of the stage sends it), notices sent again
// after a lapsed lease (one may have gone out twice, under one idempotency
// key), and documents that are not entries.
type Review struct {
	Stale     []NoticeRef `json:"stale"`
	TakenOver []NoticeRef `json:"takenOver"`
	Corrupt   []Corrupt   `json:"corrupt"`
}

// Review reads every ledger entry (one listing, then one read per entry).
// The wall clock judges leases.
func (l *Ledger) Review(ctx context.Context) (Review, error) {
	var r Review
	lister, err := statestore.AsLister(l.Store)
	if err != nil {
		return r, err
	}
	infos, err := lister.List(ctx, "ledger/")
	if err != nil {
		return r, err
	}
	now := l.wall()
	for _, in := range infos {
		id, ok := strings.CutSuffix(strings.TrimPrefix(in.Name, "ledger/"), ".json")
		if !ok || checkID(id) != nil {
			continue
		}
		e, _, err := l.read(ctx, id)
		var ce *CorruptError
		switch {
		case errors.As(err, &ce):
			r.Corrupt = append(r.Corrupt, Corrupt{Document: in.Name, Reason: ce.Err.Error()})
			continue
		case errors.Is(err, statestore.ErrNotFound):
			continue // deleted meanwhile
		case err != nil:
			return r, fmt.Errorf("ledger: review %s: %w", in.Name, err)
		}
		for _, n := range e.Notices {
			if n.leaseLapsed(now) {
				r.Stale = append(r.Stale, NoticeRef{FindingID: id, Notice: n})
			}
			if n.Takeovers > 0 {
				r.TakenOver = append(r.TakenOver, NoticeRef{FindingID: id, Notice: n})
			}
		}
	}
	sort.SliceStable(r.TakenOver, func(i, j int) bool { return when(r.TakenOver[i]).After(when(r.TakenOver[j])) })
	return r, nil
}

func when(n NoticeRef) time.Time {
	if n.TakenOverAt != nil {
		return *n.TakenOverAt
	}
	return n.At
}
