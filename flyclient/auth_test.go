package flyclient

import "testing"

func TestAuthorizationHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{name: "empty", token: "", want: ""},
		{name: "blank", token: "  ", want: ""},
		{name: "user token", token: "abc123", want: "Bearer abc123"},
		{name: "user token with bearer", token: "Bearer abc123", want: "Bearer abc123"},
		{name: "bearer any case", token: "bEaReR abc123", want: "Bearer abc123"},
		{name: "macaroon fm2", token: "fm2_aaa", want: "FlyV1 fm2_aaa"},
		{name: "macaroon fm1r", token: "fm1r_aaa", want: "FlyV1 fm1r_aaa"},
		{name: "macaroon fm1a", token: "fm1a_aaa", want: "FlyV1 fm1a_aaa"},
		{name: "flyv1 prefix kept once", token: "FlyV1 fm2_aaa", want: "FlyV1 fm2_aaa"},
		{name: "flyv1 lower case", token: "flyv1 fm2_aaa", want: "FlyV1 fm2_aaa"},
		{name: "nested schemes", token: "Bearer FlyV1 fm2_aaa", want: "FlyV1 fm2_aaa"},
		{name: "several macaroons", token: "FlyV1 fm2_aaa,fm2_bbb", want: "FlyV1 fm2_aaa,fm2_bbb"},
		{name: "spaces around parts", token: " fm2_a , fm1r_b ", want: "FlyV1 fm2_a,fm1r_b"},
		{
			name:  "macaroons win over user tokens",
			token: "abc123,fm2_aaa,xyz,fm1a_bbb",
			want:  "FlyV1 fm2_aaa,fm1a_bbb",
		},
		{name: "empty parts dropped", token: "fm2_aaa,,", want: "FlyV1 fm2_aaa"},
		{name: "scheme inside a part", token: "FlyV1 fm2_a,FlyV1 fm2_b", want: "FlyV1 fm2_a,fm2_b"},
		{name: "tab after scheme", token: "Bearer\tabc123", want: "Bearer abc123"},
		{name: "look-alike word kept", token: "Bearerx abc", want: "Bearer Bearerx abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := AuthorizationHeader(tt.token); got != tt.want {
				t.Errorf("AuthorizationHeader(%q) = %q, want %q", tt.token, got, tt.want)
			}
		})
	}
}
