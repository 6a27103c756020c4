package metrics

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// raw returns the samples of every series named name within the last hour
// before at, formatted by format.
func raw(t *testing.T, s *Store, name string, at time.Time) []string {
	t.Helper()
	got, err := s.Query(`{__name__="`+name+`"}[1h]`, at)
	if err != nil {
		t.Fatal(err)
	}

	return format(t, got)
}

func TestStore_Add(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		add  func(s *Store)
		want []string
	}{
		{
			name: "out-of-order and duplicate timestamps are dropped",
			add: func(s *Store) {
				s.Add("m", nil, minute(2), 2)
				s.Add("m", nil, minute(1), 1)
				s.Add("m", nil, minute(2), 3)
				s.Add("m", nil, minute(3), 4)
			},
			want: []string{`m 2@120 4@180`},
		},
		{
			name: "order is per series",
			add: func(s *Store) {
				s.Add("m", map[string]string{"a": "1"}, minute(2), 2)
				s.Add("m", map[string]string{"a": "2"}, minute(1), 1)
			},
			want: []string{`m{a="1"} 2@120`, `m{a="2"} 1@60`},
		},
		{
			name: "empty label values are dropped",
			add: func(s *Store) {
				s.Add("m", map[string]string{"a": "", "b": "x"}, minute(1), 1)
				s.Add("m", map[string]string{"b": "x"}, minute(2), 2)
			},
			want: []string{`m{b="x"} 1@60 2@120`},
		},
		{
			name: "the name argument wins over a __name__ label",
			add: func(s *Store) {
				s.Add("m", map[string]string{"__name__": "other"}, minute(1), 1)
			},
			want: []string{`m 1@60`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewStore(0)
			tt.add(s)
			if got := raw(t, s, "m", minute(10)); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStore_retention(t *testing.T) {
	t.Parallel()
	s := NewStore(10 * time.Minute)
	s.Add("gone", nil, minute(0), 1)
	for k := range 31 {
		s.Add("kept", nil, minute(k), float64(k))
	}
	s.Add("kept", nil, minute(15), 99) // older than the retention: dropped
	s.Add("late", nil, minute(19), 1)  // a new series, but too old already

	want := []string{`kept 20@1200 21@1260 22@1320 23@1380 24@1440 25@1500 26@1560 ` +
		`27@1620 28@1680 29@1740 30@1800`}
	if got := raw(t, s, "kept", minute(30)); !slices.Equal(got, want) {
		t.Errorf("kept: got %q, want %q", got, want)
	}
	for _, name := range []string{"gone", "late"} {
		if got := raw(t, s, name, minute(30)); len(got) != 0 {
			t.Errorf("%s: got %q, want nothing", name, got)
		}
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.series) != 1 || len(s.byName) != 1 {
		t.Errorf("store keeps %d series under %d names, want the 1 live series",
			len(s.series), len(s.byName))
	}
}

func TestStore_DeleteSeries(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		match map[string]string
		want  []string
	}{
		{
			name:  "by app",
			match: map[string]string{"app": "web"},
			want: []string{
				`fly_app_concurrency{app="api", instance="i4"} 2@0 2@60 2@120 2@180 2@240 2@300`,
			},
		},
		{
			name:  "by several labels",
			match: map[string]string{"app": "web", "instance": "i2"},
			want: []string{
				`fly_app_concurrency{app="api", instance="i4"} 2@0 2@60 2@120 2@180 2@240 2@300`,
				`fly_app_concurrency{app="web", instance="i1"} 3@0 3@60 3@120 3@180 3@240 3@300`,
			},
		},
		{
			name:  "by name",
			match: map[string]string{"__name__": conc},
			want:  []string{},
		},
		{
			name:  "no match",
			match: map[string]string{"app": "nope"},
			want: []string{
				`fly_app_concurrency{app="api", instance="i4"} 2@0 2@60 2@120 2@180 2@240 2@300`,
				`fly_app_concurrency{app="web", instance="i1"} 3@0 3@60 3@120 3@180 3@240 3@300`,
				`fly_app_concurrency{app="web", instance="i2"} 5@0 5@60 5@120 5@180 5@240 5@300`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newFixture(t)
			s.DeleteSeries(tt.match)

			got, err := s.Query(conc+"[301s]", minute(5))
			if err != nil {
				t.Fatal(err)
			}
			if lines := format(t, got); !slices.Equal(lines, tt.want) {
				t.Errorf("after DeleteSeries(%v)\n got %q\nwant %q", tt.match, lines, tt.want)
			}
		})
	}
}

// TestStore_DeleteSeries_recreate pins that a deleted series can come back:
// its key must leave both indexes.
func TestStore_DeleteSeries_recreate(t *testing.T) {
	t.Parallel()
	s := NewStore(0)
	s.Add("m", map[string]string{"app": "x"}, minute(5), 5)
	s.DeleteSeries(map[string]string{"app": "x"})
	s.Add("m", map[string]string{"app": "x"}, minute(1), 1)

	want := []string{`m{app="x"} 1@60`}
	if got := raw(t, s, "m", minute(10)); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCompareLabels_matchesLabelSetBefore(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"A", "__name__", "app", "b", "instance"}
	values := []string{"", "x", "y"}
	random := func() (labels, model.LabelSet) {
		m := map[string]string{}
		for _, n := range names {
			m[n] = values[rng.IntN(len(values))]
		}
		ls := newLabels("", m)

		return ls, model.LabelSet(ls.metric())
	}

	for range 5000 {
		a, am := random()
		b, bm := random()
		c := compareLabels(a, b)
		if (c < 0) != am.Before(bm) || (c > 0) != bm.Before(am) {
			t.Fatalf("compareLabels(%v, %v) = %d, disagrees with LabelSet.Before", am, bm, c)
		}
	}
}

func TestStore_concurrentAddAndQuery(t *testing.T) {
	t.Parallel()
	s := NewStore(30 * time.Minute)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for k := range 500 {
				lbls := map[string]string{"app": "web", "instance": fmt.Sprint("i", w, k%10)}
				s.Add(recv, lbls, t0.Add(time.Duration(k)*time.Second), float64(k))
			}
		})
	}
	wg.Go(func() {
		for k := range 50 {
			s.DeleteSeries(map[string]string{"instance": fmt.Sprint("i0", k%10)})
		}
	})
	for range 2 {
		wg.Go(func() {
			for k := range 200 {
				at := t0.Add(time.Duration(k) * 2 * time.Second)
				q := `sum by (instance) (increase(fly_instance_net_recv_bytes{app=~"w.*"}[1m]))`
				if _, err := s.Query(q, at); err != nil {
					t.Error(err)
				}
				if _, err := s.QueryRange(q, t0, at, 10*time.Second); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()

	got, err := s.Query(`count(fly_instance_net_recv_bytes)`, t0.Add(499*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Writers 1-3 own 30 series; writer 0's 10 race with DeleteSeries.
	vec, ok := got.(model.Vector)
	if !ok || len(vec) != 1 || vec[0].Value < 30 || vec[0].Value > 40 {
		t.Errorf("after concurrent adds got %v, want between 30 and 40 live series", got)
	}
}
