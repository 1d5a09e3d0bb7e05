package console_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/prereg/prereg/internal/prereg"
)

// pool is two services (console and API) over one store, each keeping
// its uploads in a directory of its own, behind a reverse proxy without
// affinity: a load balancer in front of two replicas. The proxy sends
// previews to replica 0 and confirmations to replica 1, and everything
// else to each in turn.
type pool struct {
	e       *env
	targets [2]*httptest.Server
	mu      sync.Mutex
	served  []string // "METHOD path -> replica"
}

func newPool(t *testing.T) *pool {
	t.Helper()
	e := newEnv(t)
	p := &pool{e: e}
	for i := range p.targets {
		p.targets[i] = httptest.NewServer(e.service(t, t.TempDir()))
		t.Cleanup(p.targets[i].Close)
	}
	turn := 0
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		p.mu.Lock()
		defer p.mu.Unlock()
		i := turn % 2
		turn++
		switch {
		case r.In.Method == http.MethodPost && r.In.URL.Path == "/console/import":
			i = 0
		case r.In.Method == http.MethodPost && r.In.URL.Path == "/console/import/confirm":
			i = 1
		}
		u, _ := url.Parse(p.targets[i].URL)
		r.SetURL(u)
		r.Out.Host = r.In.Host // the console checks Origin against Host
		p.served = append(p.served, fmt.Sprintf("%s %s -> %d", r.In.Method, r.In.URL.Path, i))
	}}
	// e's own server becomes the proxy: the browser's one origin.
	e.srv.Close()
	e.srv = httptest.NewServer(proxy)
	t.Cleanup(e.srv.Close)
	return p
}

// servedBy fails unless the proxy sent a request for path to replica i.
func (p *pool) servedBy(t *testing.T, method, path string, i int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	want := fmt.Sprintf("%s %s -> %d", method, path, i)
	for _, s := range p.served {
		if s == want {
			return
		}
	}
	t.Fatalf("no %q among the requests the proxy sent: %v", want, p.served)
}

// TestImportAcrossReplicas: behind a load balancer without affinity, a
// preview shown by one replica is confirmed on the other: the page keeps
// the file and sends it again, and the rows are written.
func TestImportAcrossReplicas(t *testing.T) {
	p := newPool(t)
	e := p.e
	b := e.open(t)
	b.signIn(adminToken)
	b.visit("/console/import")
	b.do(chromedp.SetUploadFiles(chromedp.ID("file"), []string{abs(t, "../../testdata/csv/bad_rows.csv")}))
	b.waitText("#file-info", "bad_rows.csv")
	b.swap("#import-form button")
	b.expectText("main", "Nothing has been written yet", "Would create", "org-123")
	b.a11y()
	rejected := b.text(".counts")
	// The preview of a file with errors proposes strict; write the good rows.
	eval[bool](b, `(document.getElementById("strict").checked = false, true)`)
	b.swap("#confirm-form button")
	b.expectText("main", "bad_rows.csv", "Created")
	b.a11y()
	p.servedBy(t, http.MethodPost, "/console/import", 0)
	p.servedBy(t, http.MethodPost, "/console/import/confirm", 1)
	st, err := e.store.Stats(t.Context(), prereg.StatsFilter{})
	if err != nil || st.Overall.Total == 0 {
		t.Fatalf("the confirmation on the other replica wrote %d registrations (%v); the preview said %s", st.Overall.Total, err, rejected)
	}
	imps, _, err := e.store.Imports(t.Context(), prereg.ImportFilter{Limit: 10})
	if err != nil || len(imps) != 2 || imps[0].SHA256 != imps[1].SHA256 || imps[0].DryRun == imps[1].DryRun {
		t.Fatalf("imports after a preview and its confirmation: %+v %v", imps, err)
	}
}

// TestImportConfirmChecksTheFile: a confirmation that sends a file other
// than the one previewed, or names no preview of its token, is refused
// with the upload form and writes nothing; the previewed file is written.
// Without the script, a confirmation that reaches a replica not keeping
// the file says so with the upload form; on the replica that keeps it, it
// writes.
func TestImportConfirmChecksTheFile(t *testing.T) {
	p := newPool(t)
	a, b := replica{p.targets[0].URL}, replica{p.targets[1].URL}
	good := []byte("email,organization_id,roles\nann@acme.test,org_acme,viewer\n")
	other := []byte("email,organization_id,roles\nann@acme.test,org_acme,admin\n")
	cookie := a.signIn(t, adminToken)
	_, page := a.do(t, http.MethodGet, "/console/import", cookie, nil)
	csrf := csrfField.FindStringSubmatch(page)[1]

	status, page := a.upload(t, "/console/import", cookie, [][2]string{{"csrf", csrf}, {"held", "1"}}, good)
	id := importIDField.FindStringSubmatch(page)
	if status != http.StatusOK || id == nil {
		t.Fatalf("held preview on A: %d\n%s", status, page)
	}
	for _, c := range []struct {
		name   string
		fields [][2]string
		file   []byte
		want   string
	}{
		{"another file", [][2]string{{"csrf", csrf}, {"import_id", id[1]}}, other, "is not the file previewed"},
		{"no preview", [][2]string{{"csrf", csrf}, {"import_id", "imp_nosuchpreview"}}, good, "no preview imp_nosuchpreview"},
		{"no CSRF", [][2]string{{"import_id", id[1]}}, good, "CSRF"},
	} {
		status, page := b.upload(t, "/console/import/confirm", cookie, c.fields, c.file)
		if status < 400 || !strings.Contains(page, c.want) {
			t.Errorf("%s: confirmation answered %d:\n%s", c.name, status, page)
		}
		if c.want != "CSRF" && !strings.Contains(page, `id="import-form"`) {
			t.Errorf("%s: the refusal has no upload form", c.name)
		}
	}
	if st, _ := p.e.store.Stats(t.Context(), prereg.StatsFilter{}); st.Overall.Total != 0 {
		t.Fatalf("refused confirmations wrote %d registrations", st.Overall.Total)
	}
	status, page = b.upload(t, "/console/import/confirm", cookie, [][2]string{{"csrf", csrf}, {"import_id", id[1]}}, good)
	if status != http.StatusOK || !strings.Contains(page, "Created") {
		t.Fatalf("the previewed file's confirmation on B: %d\n%s", status, page)
	}

	// Without the script: the file waits on A.
	status, page = a.upload(t, "/console/import", cookie, [][2]string{{"csrf", csrf}}, other)
	id = importIDField.FindStringSubmatch(page)
	if status != http.StatusOK || id == nil {
		t.Fatalf("preview on A: %d\n%s", status, page)
	}
	form := url.Values{"csrf": {csrf}, "import_id": {id[1]}}
	status, page = b.do(t, http.MethodPost, "/console/import/confirm", cookie, form)
	if status != http.StatusConflict || !strings.Contains(page, "not kept on this server") || !strings.Contains(page, `id="import-form"`) {
		t.Fatalf("a confirmation without the file on B: %d\n%s", status, page)
	}
	status, page = a.do(t, http.MethodPost, "/console/import/confirm", cookie, form)
	if status != http.StatusOK || !strings.Contains(page, "Updated") {
		t.Fatalf("a confirmation without the file on A: %d\n%s", status, page)
	}
}

var importIDField = regexp.MustCompile(`name="import_id" value="([^"]+)"`)

// upload posts fields, then file as the part "file", multipart.
func (r replica) upload(t *testing.T, path, cookie string, fields [][2]string, file []byte) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range fields {
		_ = mw.WriteField(f[0], f[1])
	}
	fw, _ := mw.CreateFormFile("file", "people.csv")
	_, _ = fw.Write(file)
	_ = mw.Close()
	return r.send(t, http.MethodPost, path, cookie, mw.FormDataContentType(), &body)
}
