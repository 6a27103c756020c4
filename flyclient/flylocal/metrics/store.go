package metrics

import (
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// maxSweepInterval bounds how long, in sample time, a series that stopped
// receiving samples outlives the retention.
const maxSweepInterval = time.Minute

// Store is an in-memory time-series store. It is safe for concurrent use.
type Store struct {
	retention time.Duration

	mu        sync.RWMutex
	series    map[string]*series   // by labels key
	byName    map[string][]*series // by metric name, each sorted by labels
	newest    model.Time           // newest accepted sample
	lastSweep model.Time
}

// series is one time series: its labels and its samples in time order.
type series struct {
	lbls   labels // with __name__
	noName labels // without __name__, shared by function results
	points []point
	dead   bool // removed from Store.series, still to leave byName
}

// point is one sample.
type point struct {
	t model.Time
	v float64
}

// NewStore returns an empty Store. Samples older than retention, measured from
// the newest sample the store has accepted, are dropped as new ones arrive; a
// retention of zero or less keeps everything.
func NewStore(retention time.Duration) *Store {
	return &Store{
		retention: retention,
		series:    make(map[string]*series),
		byName:    make(map[string][]*series),
	}
}

// Add appends one sample to the series identified by name and labels, creating
// the series on first use. Samples of a series must arrive in time order; one
// at or before the series' latest timestamp is dropped, as is one already
// older than the retention. Timestamps are kept to the millisecond.
func (s *Store) Add(name string, lbls map[string]string, t time.Time, v float64) {
	ls := newLabels(name, lbls)
	key := ls.key()
	ts := model.Time(t.UnixMilli())

	s.mu.Lock()
	defer s.mu.Unlock()

	cutoff := s.cutoff(max(s.newest, ts))
	if ts < cutoff {
		return
	}
	sr := s.series[key]
	if sr == nil {
		sr = s.create(key, ls)
	}
	if n := len(sr.points); n > 0 && ts <= sr.points[n-1].t {
		return
	}

	sr.points = append(sr.points, point{t: ts, v: v})
	sr.trim(cutoff)
	s.newest = max(s.newest, ts)
	s.maybeSweep(cutoff)
}

// DeleteSeries drops every series whose labels include all of match, for
// example {"app": "x"}. A value of "" matches series without that label, and
// an empty match drops everything.
func (s *Store) DeleteSeries(match map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.remove(func(sr *series) bool { return sr.lbls.hasAll(match) })
}

// cutoff returns the oldest timestamp kept when newest is the newest sample.
func (s *Store) cutoff(newest model.Time) model.Time {
	if s.retention <= 0 {
		return model.Earliest
	}

	return newest.Add(-s.retention)
}

// create adds an empty series to both indexes.
func (s *Store) create(key string, ls labels) *series {
	sr := &series{lbls: ls, noName: ls.withoutName()}
	s.series[key] = sr

	name := ls.get(nameLabel)
	list := s.byName[name]
	i := sort.Search(len(list), func(i int) bool { return compareLabels(list[i].lbls, ls) > 0 })
	s.byName[name] = slices.Insert(list, i, sr)

	return sr
}

// trim drops the samples older than cutoff. Appends reallocate soon after,
// which releases the dropped prefix.
func (sr *series) trim(cutoff model.Time) {
	i := sort.Search(len(sr.points), func(i int) bool { return sr.points[i].t >= cutoff })
	sr.points = sr.points[i:]
}

// maybeSweep trims every series and forgets the empty ones, at most once per
// tenth of the retention (capped at maxSweepInterval) of sample time.
func (s *Store) maybeSweep(cutoff model.Time) {
	every := min(s.retention/10, maxSweepInterval)
	if s.retention <= 0 || s.newest.Sub(s.lastSweep) < every {
		return
	}
	s.lastSweep = s.newest

	s.remove(func(sr *series) bool {
		sr.trim(cutoff)

		return len(sr.points) == 0
	})
}

// remove deletes the series for which drop returns true.
func (s *Store) remove(drop func(*series) bool) {
	for key, sr := range s.series {
		if drop(sr) {
			sr.dead = true
			delete(s.series, key)
		}
	}
	for name, list := range s.byName {
		list = slices.DeleteFunc(list, func(sr *series) bool { return sr.dead })
		if len(list) == 0 {
			delete(s.byName, name)
		} else {
			s.byName[name] = list
		}
	}
}

// candidates returns, in a fixed order, the series a selector has to look at:
// those named name, or all series when name is "".
func (s *Store) candidates(name string) []*series {
	if name != "" {
		return s.byName[name]
	}
	var all []*series
	for _, n := range slices.Sorted(maps.Keys(s.byName)) {
		all = append(all, s.byName[n]...)
	}

	return all
}
