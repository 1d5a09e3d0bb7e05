package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/prereg/prereg/internal/csvio/csvgen"
)

// admin runs the list, filtered list and stats scenarios.
func (r *run) admin(ctx context.Context) error {
	cfg := r.cfg
	walks := []struct {
		name  string
		query string
	}{
		{ScList, "limit=100"},
		{ScListFiltered, "limit=100&status=pending&organization_id=" + OrgID(0)},
	}
	for _, w := range walks {
		if !r.want(w.name) {
			continue
		}
		walk, urls, err := r.walk(ctx, w.name, w.query)
		if err != nil {
			return err
		}
		r.rep.ListWalk = append(r.rep.ListWalk, walk)
		r.logf("%-16s walk   %4d pages p50 %6.2fms p99 %7.2fms", w.name, walk.Pages, walk.P50, walk.P99)
		res := r.attack(ctx, w.name, getTargeter(urls, cfg.AdminToken),
			Load{Concurrency: cfg.AdminConcurrency, Duration: cfg.Duration, MaxRequests: r.budget(w.name, false, 0)},
			func(b []byte) bool { return bytes.Contains(b, []byte(`"items":[{`)) })
		res.Target = "prereg"
		r.logf("%-16s %-6s %-4s %8d req %9.0f/s p50 %6.2fms p99 %7.2fms max %7.2fms errors %d", w.name, "prereg", res.Mode, res.Requests, res.Throughput, res.P50, res.P99, res.Max, res.Errors)
		r.add(res)
	}
	if r.want(ScStats) {
		res := r.attack(ctx, ScStats, getTargeter([]string{r.base + "/v1/stats"}, cfg.AdminToken),
			Load{Concurrency: cfg.AdminConcurrency, Duration: cfg.Duration, MaxRequests: r.budget(ScStats, false, 0)},
			func(b []byte) bool { return bytes.Contains(b, []byte(`"overall"`)) })
		res.Target = "prereg"
		r.logf("%-16s %-6s %-4s %8d req %9.0f/s p50 %6.2fms p99 %7.2fms max %7.2fms errors %d", ScStats, "prereg", res.Mode, res.Requests, res.Throughput, res.P50, res.P99, res.Max, res.Errors)
		r.add(res)
	}
	return nil
}

// walk reads up to ListPages pages one after the other, following
// next_cursor, timing each, and returns the page URLs for the attack.
func (r *run) walk(ctx context.Context, name, query string) (WalkResult, []string, error) {
	c := &http.Client{Timeout: 30 * time.Second}
	res := WalkResult{Scenario: name}
	var lat []time.Duration
	first := r.base + "/v1/registrations?" + query
	urls := []string{first}
	next := first
	for res.Pages < r.cfg.ListPages && next != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return res, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+r.cfg.AdminToken)
		t := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return res, nil, fmt.Errorf("list page %d: %w", res.Pages+1, err)
		}
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor string            `json:"next_cursor"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&page)
		resp.Body.Close()
		lat = append(lat, time.Since(t))
		res.Pages++
		if err != nil || resp.StatusCode != http.StatusOK {
			res.Errors++
			break
		}
		res.Items += len(page.Items)
		next = ""
		if page.NextCursor != "" {
			next = r.base + "/v1/registrations?" + query + "&cursor=" + url.QueryEscape(page.NextCursor)
			urls = append(urls, next)
		}
	}
	if len(urls) > res.Pages {
		urls = urls[:res.Pages]
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.P50, res.P99, res.Max = ms(lat[len(lat)/2]), ms(lat[min(len(lat)*99/100, len(lat)-1)]), ms(lat[len(lat)-1])
	}
	if res.Errors > 0 {
		return res, nil, fmt.Errorf("list walk %s failed on page %d", name, res.Pages)
	}
	return res, urls, nil
}

// importCSV posts a generated CSV of new addresses to /v1/imports.
func (r *run) importCSV(ctx context.Context) error {
	var buf bytes.Buffer
	if err := csvgen.Write(&buf, csvgen.Options{Rows: r.cfg.ImportRows, OrgShare: r.cfg.Dataset.OrgShare, Roles: r.cfg.Dataset.Roles, Seed: uint64(time.Now().UnixNano())}); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/v1/imports", &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.cfg.AdminToken)
	req.Header.Set("Content-Type", "text/csv")
	res := &ImportResult{Rows: r.cfg.ImportRows}
	r.rep.Import = res
	t := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer resp.Body.Close()
	var rep struct {
		Created  int `json:"created"`
		Rejected int `json:"rejected"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	res.Seconds = time.Since(t).Seconds()
	res.Status = resp.StatusCode
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		res.Skipped = "the service answered 503: imports are not wired in"
		r.rep.Notes = append(r.rep.Notes, "import skipped: "+res.Skipped)
		return nil
	case resp.StatusCode != http.StatusOK:
		res.Skipped = fmt.Sprintf("the service answered %d: %s", resp.StatusCode, truncate(body))
		return nil
	}
	_ = json.Unmarshal(body, &rep)
	res.Created, res.Rejected = rep.Created, rep.Rejected
	if res.Seconds > 0 {
		res.PerSecond = float64(res.Rows) / res.Seconds
	}
	r.logf("%-16s %-6s %8d rows in %.2fs: %.0f rows/s (%d created, %d rejected)", ScImport, "prereg", res.Rows, res.Seconds, res.PerSecond, res.Created, res.Rejected)
	return nil
}
