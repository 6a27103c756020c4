package flyclient

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestAPIError_Error(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *APIError
		want string
	}{
		{
			name: "full",
			err: &APIError{StatusCode: 404, Message: "machine not found",
				RequestID: "01JNRQ9V-ord", Method: "POST", Path: "/v1/apps/x/machines"},
			want: "flyclient: POST /v1/apps/x/machines: 404 machine not found " +
				"(request 01JNRQ9V-ord)",
		},
		{
			name: "code shown when not in message",
			err: &APIError{StatusCode: 422, Message: "Validation failed: Name is taken",
				Code: "name_taken", Method: "POST", Path: "/v1/apps"},
			want: "flyclient: POST /v1/apps: 422 Validation failed: Name is taken [name_taken]",
		},
		{
			name: "bare",
			err:  &APIError{StatusCode: 500},
			want: "flyclient: 500",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAPIError_Is(t *testing.T) {
	t.Parallel()
	sentinels := []error{
		ErrNotFound, ErrConflict, ErrRateLimited, ErrTimeout, ErrPrecondition, ErrUnauthorized,
	}
	tests := []struct {
		name   string
		status int
		code   string
		want   error // nil: matches no sentinel
	}{
		{name: "404", status: 404, want: ErrNotFound},
		{name: "409", status: 409, want: ErrConflict},
		{name: "422 name taken", status: 422, code: "name_taken", want: ErrConflict},
		{name: "422 other", status: 422, code: "", want: nil},
		{name: "429", status: 429, want: ErrRateLimited},
		{name: "408", status: 408, want: ErrTimeout},
		{name: "412", status: 412, want: ErrPrecondition},
		{name: "401", status: 401, want: ErrUnauthorized},
		{name: "403", status: 403, want: ErrUnauthorized},
		{name: "500", status: 500, want: nil},
		{name: "400", status: 400, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := fmt.Errorf("get machine x: %w", &APIError{StatusCode: tt.status, Code: tt.code})
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(%d, %v) = %v", tt.status, s, got)
				}
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status {
				t.Error("*APIError not reachable through the wrap")
			}
		})
	}
}

func TestParseErrorBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		wantMsg  string
		wantCode string
	}{
		{name: "fly error", body: `{"error":"app not found"}`, wantMsg: "app not found"},
		{
			name:     "fly error with status",
			body:     `{"error":"Validation failed: Name is taken","status":"name_taken"}`,
			wantMsg:  "Validation failed: Name is taken",
			wantCode: "name_taken",
		},
		{
			name:    "message wins over error",
			body:    `{"error":"generic","message":"specific"}`,
			wantMsg: "specific",
		},
		{
			name:     "prometheus error",
			body:     `{"status":"error","errorType":"bad_data","error":"parse error"}`,
			wantMsg:  "parse error",
			wantCode: "bad_data",
		},
		{
			name:    "html folded",
			body:    "<html>\n  <h1>502 Bad Gateway</h1>\n</html>",
			wantMsg: "<html> <h1>502 Bad Gateway</h1> </html>",
		},
		{name: "json without text", body: `{"details":"x"}`, wantMsg: `{"details":"x"}`},
		{name: "empty", body: "", wantMsg: ""},
		{
			name:    "long text truncated on a rune",
			body:    strings.Repeat("é", 400),
			wantMsg: strings.Repeat("é", 256) + "…",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, code := parseErrorBody([]byte(tt.body))
			if msg != tt.wantMsg || code != tt.wantCode {
				t.Errorf("parseErrorBody = %q, %q; want %q, %q", msg, code, tt.wantMsg, tt.wantCode)
			}
		})
	}
}

func TestClient_ErrorFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		fixture  string
		want     error
		wantMsg  string
		wantCode string
	}{
		{name: "not found", status: 404, fixture: "error_not_found.json",
			want: ErrNotFound, wantMsg: "machine not found"},
		{name: "name taken", status: 422, fixture: "error_name_taken.json",
			want: ErrConflict, wantCode: "name_taken"},
		{name: "lease held", status: 409, fixture: "error_lease_held.json", want: ErrConflict},
		{name: "unauthorized", status: 401, fixture: "error_unauthorized.json",
			want: ErrUnauthorized, wantMsg: "Authenticate: token validation error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, c := newFake(t, always(reply{status: tt.status, fixture: tt.fixture}))

			_, err := c.GetMachine(t.Context(), "sb-alice", "1857156b526dd8")

			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("no *APIError in %v", err)
			}
			if tt.wantMsg != "" && apiErr.Message != tt.wantMsg {
				t.Errorf("message = %q, want %q", apiErr.Message, tt.wantMsg)
			}
			if apiErr.Code != tt.wantCode {
				t.Errorf("code = %q, want %q", apiErr.Code, tt.wantCode)
			}
			if apiErr.Method != "GET" || apiErr.Path != machineURL {
				t.Errorf("request = %s %s", apiErr.Method, apiErr.Path)
			}
			if !strings.HasPrefix(err.Error(), "get machine 1857156b526dd8: flyclient: GET ") {
				t.Errorf("error text = %q", err.Error())
			}
		})
	}
}

// countingReader yields n bytes of 'x' and counts what was read.
type countingReader struct {
	left, read int
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.left)
	for i := range n {
		p[i] = 'x'
	}
	r.left -= n
	r.read += n

	return n, nil
}

func TestNewAPIError_ReadsCapped(t *testing.T) {
	t.Parallel()
	body := &countingReader{left: 10 << 20}
	resp := &http.Response{StatusCode: 502, Header: http.Header{}, Body: io.NopCloser(body)}

	e := newAPIError("GET", "/v1/apps/x", resp)

	if body.read > maxErrorBody {
		t.Errorf("read %d bytes of an error body, want at most %d", body.read, maxErrorBody)
	}
	if !strings.HasPrefix(e.Message, "xxx") || len(e.Message) > maxErrorText+8 {
		t.Errorf("message = %.40q (%d bytes)", e.Message, len(e.Message))
	}
}
