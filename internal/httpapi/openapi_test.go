package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/httpapi"
)

// Every call the package's tests make through env goes through specTransport,
// which checks the request and the answer against the API description
// (CONTRACT §11) and fails the test that made the call when they disagree.

// loadSpec parses and validates the embedded document. Servers are dropped
// so that the router matches the test servers' addresses.
func loadSpec(raw []byte) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	doc.Servers = nil
	return doc, nil
}

var (
	specOnce    sync.Once
	sharedSpec  *specCheck
	sharedSpecE error
)

func init() {
	// An import body is text for the description's purposes: kin-openapi's
	// CSV decoder would refuse the malformed rows the tests send on purpose
	// (and that the service reports as row errors).
	openapi3filter.RegisterBodyDecoder("text/csv", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/csv", openapi3filter.PlainBodyDecoder)
}

// theSpec is the checker of the embedded document, built once.
func theSpec(t testing.TB) *specCheck {
	t.Helper()
	specOnce.Do(func() {
		doc, err := loadSpec(httpapi.OpenAPI)
		if err == nil {
			sharedSpec, err = newSpecCheck(doc)
		}
		sharedSpecE = err
	})
	if sharedSpecE != nil {
		t.Fatalf("the API description: %v", sharedSpecE)
	}
	return sharedSpec
}

// specCheck validates traffic against one document.
type specCheck struct {
	doc    *openapi3.T
	router routers.Router
}

func newSpecCheck(doc *openapi3.T) (*specCheck, error) {
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &specCheck{doc: doc, router: r}, nil
}

// check validates one exchange. The request is checked only when the
// service accepted it (2xx): the tests send bad requests on purpose, and
// the service refuses more than a schema can say. The answer is always
// checked; an answer of a path or method the document does not have must
// be a 404 or 405 in the error shape.
func (sc *specCheck) check(req *http.Request, resp *http.Response, body []byte) error {
	ctx := context.Background()
	route, params, err := sc.router.FindRoute(req)
	if err != nil {
		if !errors.Is(err, routers.ErrPathNotFound) && !errors.Is(err, routers.ErrMethodNotAllowed) {
			return fmt.Errorf("find route: %w", err)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return nil // a redirect to the canonical path; the next call is checked
		}
		switch {
		case resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "":
			return errors.New("a 405 answer without an Allow header")
		case resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusMethodNotAllowed:
		case resp.StatusCode == http.StatusBadRequest && !standardMethod(req.Method):
			// A made-up method (BREW) is not a method the path lacks.
		default:
			return fmt.Errorf("answered %d on a path or method the description does not have", resp.StatusCode)
		}
		return sc.checkError(body)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError:         true,
		},
	}
	if resp.StatusCode < 300 {
		if req.GetBody == nil && req.Body != nil && req.Body != http.NoBody {
			in.Options.ExcludeRequestBody = true // streamed: nothing to read again
		} else if req.GetBody != nil {
			rc, err := req.GetBody()
			if err != nil {
				return err
			}
			in.Request = req.Clone(ctx)
			in.Request.Body = rc
			// The service reads JSON bodies whatever their Content-Type
			// says, and the tests often send none.
			if in.Request.Header.Get("Content-Type") == "" {
				in.Request.Header.Set("Content-Type", "application/json")
			}
		}
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("the request, answered %d, does not match: %w", resp.StatusCode, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("the answer does not match: %w", err)
	}
	return nil
}

func standardMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}

// checkError validates body against the Error schema.
func (sc *specCheck) checkError(body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("error answer is not JSON: %q", body)
	}
	if err := sc.doc.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
		return fmt.Errorf("error answer does not match the Error schema: %w", err)
	}
	return nil
}

// specTransport checks every exchange with check and reports a mismatch
// with fail.
type specTransport struct {
	check *specCheck
	fail  func(format string, args ...any)
}

func (st specTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil // a cut-off answer is the test's to judge
	}
	if err := st.check.check(req, resp, body); err != nil {
		st.fail("%s %s answered %d: API description mismatch: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, err)
	}
	return resp, nil
}

// client is the HTTP client of the env's calls: every exchange is checked
// against the API description, and a mismatch fails e.t.
func (e *env) client() *http.Client {
	return &http.Client{Transport: specTransport{check: theSpec(e.t), fail: e.t.Errorf}}
}

func TestOpenAPIDocumentLoadsAndIsServed(t *testing.T) {
	e := newEnv(t)
	code, raw, hdr := e.doFull("GET", "/v1/openapi.json", "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !bytes.Equal(raw, httpapi.OpenAPI) {
		t.Fatalf("GET /v1/openapi.json: %d %s", code, hdr.Get("Content-Type"))
	}
	doc, err := loadSpec(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hookSecret", "adminToken"} {
		s := doc.Components.SecuritySchemes[name]
		if s == nil || s.Value.Type != "http" || s.Value.Scheme != "bearer" {
			t.Errorf("security scheme %s: %+v", name, s)
		}
	}
	hook := doc.Paths.Find("/v1/hooks/post-login").Post
	for _, h := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		if hook.Parameters.GetByInAndName("header", h) == nil {
			t.Errorf("the hook does not declare the %s header", h)
		}
	}
	codes := doc.Components.Schemas["Error"].Value.Properties["error"].Value.Properties["code"].Value.Enum
	for _, c := range []string{"invalid_request", "unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict", "payload_too_large", "unsupported_media_type", "rate_limited", "internal", "unavailable"} {
		if !slices.Contains(codes, any(c)) {
			t.Errorf("error code %s is not in the Error schema", c)
		}
	}
}

// ginPath turns gin's /a/:id into OpenAPI's /a/{id}.
func ginPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// Every route gin serves is described, and every operation described is
// served.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "prereg.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	engine, ok := httpapi.New(httpapi.Config{}, store).Handler().(*gin.Engine)
	if !ok {
		t.Fatal("Handler is not a *gin.Engine")
	}
	served := map[string]bool{}
	for _, r := range engine.Routes() {
		served[r.Method+" "+ginPath(r.Path)] = true
	}
	described := map[string]bool{}
	for path, item := range theSpec(t).doc.Paths.Map() {
		for method := range item.Operations() {
			described[method+" "+path] = true
		}
	}
	for r := range served {
		if !described[r] {
			t.Errorf("%s is served but not in the API description", r)
		}
	}
	for r := range described {
		if !served[r] {
			t.Errorf("%s is in the API description but not served", r)
		}
	}
	if len(served) < 20 {
		t.Fatalf("only %d routes: %v", len(served), served)
	}
}

// The checker is not blind: with a property taken out of the description
// in memory, the same real traffic fails, for an answer and for a request.
func TestOpenAPICheckCatchesDrift(t *testing.T) {
	drifted := func(edit func(doc *openapi3.T)) *specCheck {
		doc, err := loadSpec(httpapi.OpenAPI)
		if err != nil {
			t.Fatal(err)
		}
		edit(doc)
		sc, err := newSpecCheck(doc)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	dropProperty := func(schema, prop string) func(*openapi3.T) {
		return func(doc *openapi3.T) {
			s := doc.Components.Schemas[schema].Value
			delete(s.Properties, prop)
			s.Required = slices.DeleteFunc(s.Required, func(r string) bool { return r == prop })
		}
	}
	tests := []struct {
		name   string
		edit   func(*openapi3.T)
		method string
		path   string
		body   any
		want   string
	}{
		{"answer property", dropProperty("Registration", "granted_to"), "GET", "/v1/registrations", nil, "granted_to"},
		{"request property", dropProperty("RegistrationInput", "connection"), "POST", "/v1/registrations",
			map[string]any{"email": "drift2@example.com", "roles": []string{"r"}, "connection": "corp"}, "connection"},
		{"status not described", func(doc *openapi3.T) { doc.Paths.Find("/v1/stats").Get.Responses.Delete("200") }, "GET", "/v1/stats", nil, "200"},
		{"route not described", func(doc *openapi3.T) { doc.Paths.Delete("/v1/audit") }, "GET", "/v1/audit", nil, "does not have"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.register(map[string]any{"email": "drift@example.com", "roles": []string{"r"}})
			var failures []string
			cl := &http.Client{Transport: specTransport{check: drifted(tt.edit), fail: func(f string, a ...any) {
				failures = append(failures, fmt.Sprintf(f, a...))
			}}}
			var r io.Reader
			if tt.body != nil {
				raw, _ := json.Marshal(tt.body)
				r = bytes.NewReader(raw)
			}
			req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, r)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if len(failures) != 1 || !strings.Contains(failures[0], tt.want) {
				t.Fatalf("want one failure naming %q, got %q", tt.want, failures)
			}
		})
	}
}
