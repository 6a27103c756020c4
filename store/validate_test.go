package store

import "testing"

func TestClampLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   int
		want int
	}{
		{name: "zero is the default", in: 0, want: DefaultLimit},
		{name: "negative is the default", in: -5, want: DefaultLimit},
		{name: "in range", in: 7, want: 7},
		{name: "at max", in: MaxLimit, want: MaxLimit},
		{name: "above max", in: MaxLimit + 1, want: MaxLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := clampLimit(tc.in); got != tc.want {
				t.Errorf("clampLimit(%d) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}
