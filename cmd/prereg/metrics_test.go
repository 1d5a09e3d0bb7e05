package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// get calls url, with the bearer token unless it is empty, and returns the
// status and body.
func get(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

var metricsLine = regexp.MustCompile(`prereg metrics on (http://\S+)/metrics`)

// With --metrics-addr (or PREREG_METRICS_ADDR), /metrics is served on a
// listener of its own and is absent from the main one; without it, it is on
// the main listener.
func TestMetricsAddr(t *testing.T) {
	tests := []struct {
		name     string
		vars     map[string]string
		args     []string
		separate bool
	}{
		{"default: on the main listener", nil, nil, false},
		{"flag", nil, []string{"--metrics-addr", "127.0.0.1:0"}, true},
		{"environment", map[string]string{"PREREG_METRICS_ADDR": "127.0.0.1:0"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "prereg.db")
			s := startServiceEnv(t, tt.vars, append([]string{"--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken}, tt.args...)...)
			if code, _ := s.call(t, "GET", "/v1/stats", testAdminToken, nil); code != 200 {
				t.Fatalf("stats: %d", code)
			}
			m := metricsLine.FindStringSubmatch(s.stdout.String())
			if (m != nil) != tt.separate {
				t.Fatalf("metrics listener printed: %v\n%s", m, s.stdout)
			}
			metricsURL := s.url
			if tt.separate {
				metricsURL = m[1]
				if code, body := get(t, s.url+"/metrics", ""); code != 404 || !strings.Contains(body, `"not_found"`) {
					t.Fatalf("/metrics on the main listener: %d %s", code, body)
				}
				if code, _ := get(t, metricsURL+"/v1/openapi.json", ""); code != 404 {
					t.Fatalf("the metrics listener serves the API: %d", code)
				}
			}
			code, body := get(t, metricsURL+"/metrics", "")
			if want := `prereg_http_requests_total{method="GET",route="/v1/stats",status="200"} 1`; code != 200 || !strings.Contains(body, want) {
				t.Fatalf("%s/metrics: %d, want %s in\n%s", metricsURL, code, want, body)
			}
		})
	}
}

func TestMetricsAddrRefusals(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	out, err := runCLI("serve", "--db", db, "--addr", "127.0.0.1:18080", "--metrics-addr", "127.0.0.1:18080", "--hook-secrets", testHookSecret, "--admin-token", testAdminToken)
	if err == nil || !strings.Contains(describe(err), "--metrics-addr must differ") {
		t.Fatalf("same address: %v %s", err, out)
	}
	out, err = runCLI("serve", "--db", db, "--addr", "127.0.0.1:0", "--metrics-addr", "256.0.0.1:0", "--hook-secrets", testHookSecret, "--admin-token", testAdminToken)
	if err == nil || !strings.Contains(describe(err), "--metrics-addr") {
		t.Fatalf("bad address: %v %s", err, out)
	}
}
