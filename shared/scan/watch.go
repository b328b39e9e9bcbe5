package scan

import (
	"context"
	"fmt"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/snapshot"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// UseWatchState makes the scan read the endpoint watch's histories from
// state (the state store the WatchTimer writes), continuing a snapshot's
// recorded history where the state has none yet.
func (t *Tenant) UseWatchState(state statestore.Store) {
	if state == nil {
		return
	}
	if t.Watch == nil {
		t.Watch = &watch.Store{}
	}
	t.Watch.State = state
}

// WatchFindings reads the histories of inv's endpoints and returns the
// watch's findings at now and the report's availability figures. Nothing
// is checked: the WatchTimer checks, the scan reports what it recorded.
func WatchFindings(ctx context.Context, store watch.Store, cfg *config.Config, inv inventory.Inventory, now time.Time) ([]assess.Finding, []report.EndpointAvailability, error) {
	eps := watch.Endpoints(inv, cfg)
	if len(eps) == 0 {
		return nil, nil, nil
	}
	rules := watch.RulesFrom(cfg)
	statuses, _, err := watch.LoadStatuses(ctx, store, eps, now, rules, cfg.WatchSettings().Concurrency)
	if err != nil {
		return nil, nil, fmt.Errorf("endpoint watch history: %w", err)
	}
	var list []watch.Status
	for _, ep := range eps {
		if s, ok := statuses[ep.Key]; ok {
			list = append(list, s)
		}
	}
	return watch.Findings(inv, cfg, eps, statuses, now, rules), watch.Availability(list), nil
}

// ExportWatch copies the histories of inv's endpoints from the state store
// into the snapshot in dir (dir/watch/endpoints/<key>.json), so the
// snapshot carries the availability record of its moment. It returns how
// many were copied.
func ExportWatch(ctx context.Context, state statestore.Store, cfg *config.Config, inv inventory.Inventory, dir string) (int, error) {
	docs := map[string][]byte{}
	store := watch.Store{State: state}
	for _, ep := range watch.Endpoints(inv, cfg) {
		h, _, err := store.Load(ctx, ep.Key)
		if err != nil {
			return 0, err
		}
		if h == nil {
			continue
		}
		data, err := h.MarshalReadable()
		if err != nil {
			return 0, err
		}
		docs[watch.DocumentName(ep.Key)] = data
	}
	if len(docs) == 0 {
		return 0, nil
	}
	return len(docs), snapshot.SaveState(dir, docs)
}
